// The organization's backend side of the flow: asking for a start URL, and headless selection.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { findAccount, toAccountView } from '../accounts/accounts.ts';
import { ApiError, badRequest, formatIssues, invalidPayload, notFound } from '../http/errors.ts';
import { SocialAccount, SOCIAL_ACCOUNT_EXAMPLE, success, TenantId } from '../http/schemas.ts';
import { documentedOnly } from '../http/openapi.ts';
import { networkConfigForFlow } from '../networks/network-configs.ts';
import { defaultWorkspaceId } from '../orgs/organizations.ts';
import { canonicalNetwork } from '../providers/registry.ts';
import { createStartUrl, findPendingSelection, finishSelection, FlowError } from './flows.ts';

const AuthUrlBody = z
  .object({
    redirect_uri: z
      .string()
      .url()
      .optional()
      .describe("Where the user's browser returns with the result. Must exactly match one of the network config's redirect_uris."),
    tenant_id: TenantId.optional().describe('Your own identifier for the end user; stored on the connected accounts.'),
    account_id: z.string().max(64).optional().describe('Reconnect this account: it keeps its id and gets fresh tokens.'),
    selection: z
      .enum(['hosted', 'headless'])
      .optional()
      .describe('When one login yields several profiles: our hosted picker (default), or back to redirect_uri with ?session= for your own.'),
  })
  .default({})
  .meta({ examples: [{ redirect_uri: 'https://app.example.com/connected', tenant_id: 'customer_42' }] });

const AuthUrl = z.object({
  auth_url: z.string().describe('One-time start URL (valid 15 minutes). Send the user there.'),
  expires_at: z.string(),
});

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
          operationId: 'createAuthUrl', summary: 'Get an authorization URL to connect an account',
          description:
            "A one-time start URL for the network (valid 15 minutes; nothing is stored until it is opened). Send the person's browser there: they sign in at the network with your app, and come back to `redirect_uri` with `?status=success&account_id=…` (or `status=error&error=…`). With `account_id`, the same account is reconnected. With `selection: headless`, a login with several profiles comes back with `?session=…` for GET /v1/social-accounts/pending/{session}.",
          params: z.object({ network: z.string().describe('facebook, instagram, x (or twitter), linkedin, pinterest, tiktok, threads, youtube, google_business, sandbox') }),
          body: AuthUrlBody,
          // A hot route: documented, not run (http/openapi.ts).
          response: {
            200: documentedOnly(
              success(AuthUrl, { auth_url: 'https://api.example.com/connect/AbC123sealed', expires_at: '2026-12-07T16:15:00.000Z' }),
            ),
          },
          errors: {
            400: { description: 'The network is not supported or not configured, or redirect_uri is not in its allowlist', example: { success: false, error: 'Network not configured', code: 'bad_request', message: 'Configure linkedin first with POST /v1/social-networks' } },
            404: 'Social account not found',
          },
        },
      },
      async (req, reply) => {
        const { orgId } = req.caller;
        const network = canonicalNetwork(req.params.network);
        const adapter = network && ctx.adapters.get(network);
        if (!adapter) {
          throw badRequest('Unsupported network', `"${req.params.network}" is not a network this server connects. Supported: ${ctx.adapters.supported().join(', ')}`);
        }
        if (adapter.connection === 'app_password') {
          throw badRequest('No authorization URL for this network', `${adapter.displayName} connects with an app password: POST /v1/social-accounts/${adapter.network}`);
        }
        const config = await networkConfigForFlow(ctx.db, orgId, adapter.network);
        if (!config) {
          throw badRequest('Network not configured', `Configure ${adapter.network} first with POST /v1/social-networks`);
        }
        const body = req.body;
        const issues: z.core.$ZodIssue[] = [];
        if (body.redirect_uri && !config.redirectUris.includes(body.redirect_uri)) {
          issues.push({
            code: 'custom',
            path: ['redirect_uri'],
            message: `redirect_uri is not in the allowed redirect_uris of the ${adapter.network} configuration (exact match required)`,
            input: undefined,
          } as z.core.$ZodIssue);
        }
        if (body.selection === 'headless' && !body.redirect_uri) {
          issues.push({ code: 'custom', path: ['selection'], message: 'headless selection needs a redirect_uri to send the session to', input: undefined } as z.core.$ZodIssue);
        }
        if (issues.length) return invalidPayload(reply, formatIssues(issues));
        if (body.account_id) {
          const account = await findAccount(ctx.db, orgId, body.account_id);
          if (!account) throw notFound('Social account');
          if (account.network !== adapter.network) throw badRequest('Account belongs to another network', `Account ${account.id} is a ${account.network} account`);
        }
        const { authUrl, expiresAt } = createStartUrl(ctx, orgId, config, {
          redirectUri: body.redirect_uri,
          tenantId: body.tenant_id,
          accountId: body.account_id,
          selection: body.selection ?? 'hosted',
          workspaceId: await defaultWorkspaceId(ctx.db, orgId),
        });
        return { success: true as const, data: { auth_url: authUrl, expires_at: expiresAt.toISOString() } };
      },
    );

    r.get(
      '/v1/social-accounts/pending/:session',
      {
        schema: {
          tags: ['Connect'],
          operationId: 'getPendingConnection', summary: 'Profiles waiting to be chosen (headless selection)',
          description: 'After a headless connection whose login gave several profiles (Facebook pages, LinkedIn organizations, …): the profiles your own picker should offer. Choose with finalize.',
          params: SessionParam,
          response: {
            200: success(z.object({ network: z.string(), expiresAt: z.string(), availablePages: z.array(PendingPage) }), {
              network: 'facebook',
              expiresAt: '2026-12-07T16:15:00.000Z',
              availablePages: [{ id: '104857600000001', type: 'page', name: 'Acme Coffee', username: 'acmecoffee', profilePictureUrl: null }],
            }),
          },
          errors: { 404: 'Selection session not found' },
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
          operationId: 'finalizePendingConnection', summary: 'Connect the chosen profiles (headless selection)',
          description: 'Connects the chosen profiles of a pending session (ids from availablePages) as accounts; the session then ends.',
          params: SessionParam,
          body: z.object({ selectedPageIds: z.array(z.string().min(1)).min(1).max(100) }).meta({ examples: [{ selectedPageIds: ['104857600000001'] }] }),
          response: {
            200: z
              .object({ success: z.literal(true), connectedAccounts: z.array(SocialAccount) })
              .meta({ examples: [{ success: true, connectedAccounts: [{ ...SOCIAL_ACCOUNT_EXAMPLE, network: 'facebook', network_unique_id: '104857600000001', username: 'acmecoffee', nickname: 'Acme Coffee', account_type: 'page', scopes: ['pages_manage_posts'] }] }] }),
          },
          errors: { 404: 'Selection session not found', 409: 'Selection session already finalized' },
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
