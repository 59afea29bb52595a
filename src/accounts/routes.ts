// `/v1/social-accounts`: reading, checking, disconnecting accounts and handing out fresh access tokens.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { ApiError, notFound } from '../http/errors.ts';
import { Cursor, IdParam, listOf, sendSerialized, SocialAccount, SOCIAL_ACCOUNT_EXAMPLE, success, TenantId } from '../http/schemas.ts';
import { documentedOnly } from '../http/openapi.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { canonicalNetwork } from '../providers/registry.ts';
import { NetworkError, type NetworkId } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { disconnectAccount } from './disconnect.ts';
import { decryptTokens, findAccount, listAccountsJson, toAccountView, type AccountRow } from './accounts.ts';

const ListQuery = z.object({
  tenantId: TenantId.optional().describe('Only this tenant\'s accounts (also accepted as `tenant_id`)'),
  tenant_id: TenantId.optional().describe('Same as `tenantId` (both seed APIs\' spellings are accepted)'),
  network: z.string().optional(),
  networkUniqueId: z.string().max(256).optional(),
  username: z.string().max(256).optional().describe('Partial, case-insensitive match'),
  status: z.enum(['active', 'reauth_required', 'disconnected']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  cursor: Cursor.optional().describe('`next_cursor` of the previous page: constant-time paging at any depth'),
}).refine((q) => !(q.tenantId && q.tenant_id && q.tenantId !== q.tenant_id), {
  message: 'tenantId and tenant_id are the same filter: give one, or the same value in both',
  path: ['tenant_id'],
});

const AccessToken = z.object({ access_token: z.string(), token_type: z.string(), expires_at: z.string().nullable() });

const Health = z.object({
  id: z.string(),
  healthy: z.boolean(),
  status: z.enum(['active', 'reauth_required', 'disconnected']),
  token_expires_at: z.string().nullable(),
  checked_at: z.string(),
  error: z.string().optional(),
});

export function accountRoutes(ctx: AppContext) {
  async function accountOr404(orgId: string, id: string) {
    const account = await findAccount(ctx.db, orgId, id);
    if (!account) throw notFound('Social account');
    return account;
  }

  /** A valid token, as the API reports failures: 409 when a person must act, 503 when the network is down. */
  async function freshOrFail(account: AccountRow, force = false) {
    try {
      return await ensureFreshToken(ctx, account, { force });
    } catch (err) {
      if (err instanceof AccountUnusableError) throw new ApiError(409, 'Account needs to be reconnected', err.reason);
      if (err instanceof NetworkError) {
        if (err.kind === 'permanent') throw new ApiError(409, 'Account needs to be reconnected', err.description);
        throw new ApiError(503, 'Network temporarily unavailable', err.description);
      }
      throw err;
    }
  }

  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/v1/social-accounts',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'listSocialAccounts', summary: 'List connected accounts',
          description:
            'Accounts of this organization, newest first, filtered by tenant, network, network id, username or status. Page with `limit` and `next_cursor` (constant time at any depth), or `offset`.',
          querystring: ListQuery,
          // The most read route: written straight from text rows (listAccountsJson); documented, not run.
          response: { 200: documentedOnly(listOf(SocialAccount, SOCIAL_ACCOUNT_EXAMPLE)) },
        },
      },
      async (req, reply) => {
        const q = req.query;
        const page = await listAccountsJson(
          ctx.db,
          req.caller.orgId,
          {
            tenantId: q.tenantId ?? q.tenant_id,
            network: q.network ? (canonicalNetwork(q.network) ?? q.network) : undefined,
            networkUniqueId: q.networkUniqueId,
            username: q.username,
            status: q.status,
          },
          { limit: q.limit, offset: q.offset, cursor: q.cursor },
        );
        // The most read response: the page's JSON comes ready-made from listAccountsJson and goes out as it is.
        // The last page has no next_cursor (listAccountsJson looks one row further to know).
        const nextCursor = page.more ? page.lastId : null;
        return sendSerialized(
          reply,
          '{"success":true,"data":',
          page.data,
          `,"count":${page.count},"limit":${q.limit},"offset":${q.cursor ? 0 : q.offset},"next_cursor":${JSON.stringify(nextCursor)}}`,
        );
      },
    );

    r.get(
      '/v1/social-accounts/:id',
      { schema: { tags: ['Social accounts'], operationId: 'getSocialAccount', summary: 'One account', description: 'The account as every route shows it: its network, ids, profile, tenant, status and token expiry (never the tokens themselves).', params: IdParam, response: { 200: success(SocialAccount, SOCIAL_ACCOUNT_EXAMPLE) }, errors: { 404: 'Social account not found' } } },
      async (req) => ({ success: true as const, data: toAccountView(await accountOr404(req.caller.orgId, req.params.id)) }),
    );

    r.delete(
      '/v1/social-accounts/:id',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'disconnectSocialAccount', summary: 'Disconnect: revoke at the network where it can, then remove the tokens',
          description: 'Revokes the grant at networks that offer it, removes the tokens and marks the account `disconnected` (an `account.disconnected` event). Its posts stay; it can be connected again with auth-url.',
          params: IdParam,
          response: { 200: success(SocialAccount, { ...SOCIAL_ACCOUNT_EXAMPLE, status: 'disconnected', token_expires_at: null, scopes: [] }) },
          errors: { 404: 'Social account not found' },
        },
      },
      async (req) => {
        const account = await accountOr404(req.caller.orgId, req.params.id);
        const row = await disconnectAccount(ctx, account, { reason: 'Disconnected through the API', log: req.log });
        return { success: true as const, data: toAccountView(row) };
      },
    );

    r.post(
      '/v1/social-accounts/:id/token',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'getSocialAccountToken', summary: 'A currently valid access token (refreshed first when near expiry)',
          description: "The account's access token, valid for at least 5 more minutes (refreshed first otherwise, once for all callers), to call the network yourself. 409 when its person must connect it again.",
          params: IdParam,
          response: { 200: success(AccessToken, { access_token: 'AQXd3kd92jf…', token_type: 'Bearer', expires_at: '2027-02-05T16:00:00.000Z' }) },
          errors: {
            404: 'Social account not found',
            409: { description: 'The account needs to be reconnected (its grant was revoked or has ended)', example: { success: false, error: 'Account needs to be reconnected', code: 'conflict', message: 'The refresh token was revoked' } },
          },
        },
      },
      async (req) => {
        const account = await freshOrFail(await accountOr404(req.caller.orgId, req.params.id));
        const tokens = decryptTokens(ctx.keyring, account)!;
        return {
          success: true as const,
          data: { access_token: tokens.accessToken, token_type: 'Bearer', expires_at: account.tokenExpiresAt?.toISOString() ?? null },
        };
      },
    );

    r.get(
      '/v1/social-accounts/:id/health',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'checkSocialAccountHealth', summary: "Check the token against the network's identity endpoint (refreshes once on 401)",
          description: 'Calls the network with the account\'s token (refreshing it first when due, and once more when the network says it died): `healthy` and, when not, the error in words.',
          params: IdParam,
          response: { 200: success(Health, { id: SOCIAL_ACCOUNT_EXAMPLE.id, healthy: true, status: 'active', token_expires_at: '2027-02-05T16:00:00.000Z', checked_at: '2026-12-07T16:01:00.000Z' }) },
          errors: { 404: 'Social account not found' },
        },
      },
      async (req) => {
        let account = await accountOr404(req.caller.orgId, req.params.id);
        const adapter = ctx.adapters.get(account.network as NetworkId);
        const config = await findNetworkConfig(ctx.db, account.orgId, account.network);
        const report = (healthy: boolean, row: AccountRow, error?: string) => ({
          success: true as const,
          data: {
            id: row.id,
            healthy,
            status: row.status,
            token_expires_at: row.tokenExpiresAt?.toISOString() ?? null,
            checked_at: new Date().toISOString(),
            ...(error ? { error } : {}),
          },
        });
        if (!adapter || !config || account.status !== 'active') return report(false, account, 'The account is not active');
        const app = appCredentials(ctx, config, adapter);
        const check = async (row: AccountRow) => adapter.verify({ app, accessToken: decryptTokens(ctx.keyring, row)!.accessToken, metadata: row.metadata });
        try {
          account = await ensureFreshToken(ctx, account);
          await check(account);
          return report(true, account);
        } catch (err) {
          if (!(err instanceof NetworkError) || err.kind !== 'permanent' || !adapter.refresh) {
            return report(false, (await findAccount(ctx.db, account.orgId, account.id)) ?? account, errorText(err));
          }
        }
        // The network said the token is dead: refresh once and check again.
        try {
          account = await ensureFreshToken(ctx, account, { force: true });
          await check(account);
          return report(true, account);
        } catch (err) {
          return report(false, (await findAccount(ctx.db, account.orgId, account.id)) ?? account, errorText(err));
        }
      },
    );
  };
}

function errorText(err: unknown): string {
  if (err instanceof NetworkError) return err.description;
  if (err instanceof AccountUnusableError) return err.reason;
  throw err;
}
