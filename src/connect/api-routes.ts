// The organization's backend side of the flow: asking for a start URL, and headless selection.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { toAccountView } from '../accounts/accounts.ts';
import { ApiError, formatIssues, invalidPayload } from '../http/errors.ts';
import { errorResponses, SocialAccount, success } from '../http/schemas.ts';
import { AuthUrl, authUrlFor, AuthUrlRequest } from './auth-url.ts';
import { findPendingSelection, finishSelection, FlowError } from './flows.ts';

const AuthUrlBody = AuthUrlRequest.default({});

const SessionParam = z.object({ session: z.string().min(1).max(128) });

const PendingPage = z.object({
  id: z.string(),
  type: z.string(),
  name: z.string(),
  username: z.string().nullable(),
  profilePictureUrl: z.string().nullable(),
});

export function connectApiRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/social-networks/:network/auth-url',
      {
        schema: {
          tags: ['Connect'],
          summary: 'Get an authorization URL to connect an account',
          params: z.object({ network: z.string() }),
          body: AuthUrlBody,
          response: { 200: success(AuthUrl), ...errorResponses },
        },
      },
      async (req) => ({ success: true as const, data: await authUrlFor(ctx, req.caller.orgId, req.params.network, req.body) }),
    );

    r.get(
      '/v1/social-accounts/pending/:session',
      {
        schema: {
          tags: ['Connect'],
          summary: 'Profiles waiting to be chosen (headless selection)',
          params: SessionParam,
          response: {
            200: success(z.object({ network: z.string(), expiresAt: z.string(), availablePages: z.array(PendingPage) })),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const pending = await pendingOr404(req.params.session, req.caller.orgId);
        return {
          success: true as const,
          data: {
            network: pending.flow.network,
            expiresAt: pending.flow.expiresAt.toISOString(),
            availablePages: pending.profiles.map((p) => ({
              id: p.networkUniqueId,
              type: p.accountType,
              name: p.nickname ?? p.username ?? p.networkUniqueId,
              username: p.username,
              profilePictureUrl: p.profilePictureUrl,
            })),
          },
        };
      },
    );

    r.post(
      '/v1/social-accounts/pending/:session/finalize',
      {
        schema: {
          tags: ['Connect'],
          summary: 'Connect the chosen profiles (headless selection)',
          params: SessionParam,
          body: z.object({ selectedPageIds: z.array(z.string().min(1)).min(1).max(100) }),
          response: { 200: z.object({ success: z.literal(true), connectedAccounts: z.array(SocialAccount) }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const pending = await pendingOr404(req.params.session, req.caller.orgId);
        const known = new Set(pending.profiles.map((p) => p.networkUniqueId));
        const unknown = req.body.selectedPageIds.filter((id) => !known.has(id));
        if (unknown.length) {
          return invalidPayload(
            reply,
            formatIssues([{ code: 'custom', path: ['selectedPageIds'], message: `Not offered in this session: ${unknown.join(', ')}`, input: undefined } as z.core.$ZodIssue]),
          );
        }
        try {
          const accounts = await finishSelection(ctx, pending, req.body.selectedPageIds);
          return { success: true as const, connectedAccounts: accounts.map(toAccountView) };
        } catch (err) {
          if (err instanceof FlowError) throw new ApiError(409, 'Selection session already finalized');
          throw err;
        }
      },
    );
  };

  async function pendingOr404(session: string, orgId: string) {
    try {
      return await findPendingSelection(ctx, session, { orgId });
    } catch (err) {
      if (err instanceof FlowError) throw new ApiError(404, 'Selection session not found', err.description);
      throw err;
    }
  }
}
