// `POST /v1/social-accounts/bluesky`: connecting a Bluesky account with its handle and an app password. Bluesky has
// no consent page to send a browser to (this version does not speak AT Protocol OAuth), so there is no flow: the
// handle is resolved to its account and home server, a session is created with the app password, and the account
// is stored like any other — the app password kept encrypted beside the tokens, to start a new session if the
// refresh JWT ever dies.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { socialAccounts } from '../db/schema.ts';
import { ApiError, badRequest, conflict } from '../http/errors.ts';
import { SocialAccount, SOCIAL_ACCOUNT_EXAMPLE, success, TenantId } from '../http/schemas.ts';
import { findNetworkConfig, saveNetworkConfig } from '../networks/network-configs.ts';
import { defaultWorkspaceId } from '../orgs/organizations.ts';
import { blueskyProfile, createBlueskyClient, DID_WEB_PROBLEM, didWebOrigin, type BlueskyIdentity } from '../providers/bluesky/connection.ts';
import { NetworkError, type NetworkAdapter } from '../providers/types.ts';
import { sameIdentity, toAccountView, upsertConnectedAccounts } from './accounts.ts';

/** A domain handle (`alice.bsky.social`, an optional leading `@`) or a DID (`did:plc:…`, `did:web:…`). */
const HANDLE = /^@?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const DID_PLC = /^did:plc:[a-zA-Z0-9]{1,64}$/;

const ConnectBody = z.object({
  handle: z
    .string()
    .max(253)
    .refine((h) => !/^did:web:/i.test(h) || didWebOrigin(h) !== undefined, { message: DID_WEB_PROBLEM, abort: true })
    .refine((h) => HANDLE.test(h) || DID_PLC.test(h) || didWebOrigin(h) !== undefined, 'must be a Bluesky handle such as alice.bsky.social, or a DID')
    .describe('The account\'s handle (alice.bsky.social, or its own domain) or DID'),
  appPassword: z.string().min(1).max(256).describe('An app password created in Bluesky under Settings → Privacy and security → App passwords'),
  tenantId: TenantId.optional(),
}).meta({ examples: [{ handle: 'alice.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop', tenantId: 'customer_42' }] });

export function blueskyRoutes(ctx: AppContext) {
  const bluesky = createBlueskyClient(ctx.upstream);

  /** Bluesky's answers, as the API reports them: a wrong handle 404, a refused login 400, an outage 503. */
  function asApiError(err: unknown): unknown {
    if (!(err instanceof NetworkError)) return err;
    if (err.kind === 'transient') return new ApiError(503, 'Network temporarily unavailable', err.description);
    if (err.code === 'not_found') return new ApiError(404, 'Bluesky handle not found', err.description);
    if (err.code === 'AuthenticationRequired') return badRequest('Bluesky refused the handle or app password', err.description);
    if (err.code === 'destination_refused' || err.code === 'destination_unresolvable') {
      return badRequest("The Bluesky account's servers cannot be reached from here", err.description, err.code);
    }
    return badRequest('Bluesky refused the connection', err.description);
  }

  /** The account this Bluesky account is already connected as for this workspace and tenant, if any. */
  async function connectedAccount(orgId: string, workspaceId: string | null, tenantId: string | null, did: string) {
    const [row] = await ctx.db
      .select({ id: socialAccounts.id, status: socialAccounts.status })
      .from(socialAccounts)
      .where(sameIdentity({ orgId, network: 'bluesky', workspaceId, tenantId }, did));
    return row;
  }

  /**
   * Refreshing and disconnecting look up the organization's network configuration. Bluesky needs no app of the
   * organization's, so its configuration is recorded on the first connection (no client credentials).
   */
  async function ensureNetworkConfig(orgId: string, adapter: NetworkAdapter) {
    if (!(await findNetworkConfig(ctx.db, orgId, adapter.network))) await saveNetworkConfig(ctx, orgId, adapter, {});
  }

  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/social-accounts/bluesky',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'connectBlueskyAccount', summary: 'Connect a Bluesky account with its handle and an app password',
          description:
            'Bluesky connects without OAuth: the handle (or DID) is resolved to its server, signed in with the app password, and the account is stored as any other (an `account.connected` event). The app password is kept encrypted to refresh the session.',
          body: ConnectBody,
          response: {
            201: success(SocialAccount, { ...SOCIAL_ACCOUNT_EXAMPLE, network: 'bluesky', network_unique_id: 'did:plc:4kd92jf83kdl', username: 'alice.bsky.social', nickname: 'Alice', profile_picture_url: null, token_expires_at: '2026-12-07T18:00:00.000Z', scopes: [] }),
          },
          errors: {
            400: { description: 'The handle is not valid, or Bluesky refused the handle or app password', example: { success: false, error: 'Bluesky refused the handle or app password', code: 'bad_request', message: 'Invalid identifier or password' } },
            404: 'Bluesky handle not found',
            409: { description: 'This Bluesky account is already connected for this tenant (or the Idempotency-Key conflicts)', example: { success: false, error: 'Account already connected', code: 'conflict', message: 'Bluesky account alice.bsky.social is account acc_01jf3k2n8q9x4b7c6d5e' } },
          },
        },
      },
      async (req, reply) => {
        const { orgId } = req.caller;
        const adapter = ctx.adapters.get('bluesky');
        if (!adapter) throw badRequest('Unsupported network', 'This server does not connect Bluesky');
        let identity: BlueskyIdentity;
        try {
          identity = await bluesky.resolve(req.body.handle);
        } catch (err) {
          throw asApiError(err);
        }
        // Checked before signing in: createSession is limited per account, and a duplicate needs no session.
        const workspaceId = await defaultWorkspaceId(ctx.db, orgId);
        const tenantId = req.body.tenantId ?? null;
        const existing = await connectedAccount(orgId, workspaceId, tenantId, identity.did);
        if (existing?.status === 'active') throw conflict('Account already connected', `Bluesky account ${identity.handle} is account ${existing.id}`);
        let profile;
        try {
          profile = await blueskyProfile(bluesky, identity, await bluesky.createSession(identity, req.body.appPassword));
        } catch (err) {
          throw asApiError(err);
        }
        await ensureNetworkConfig(orgId, adapter);
        const [row] = await ctx.db.transaction((tx) =>
          upsertConnectedAccounts(ctx, tx, { orgId, network: 'bluesky', tenantId, workspaceId }, [profile]),
        );
        return reply.code(201).send({ success: true as const, data: toAccountView(row) });
      },
    );
  };
}
