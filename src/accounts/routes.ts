// `/v1/social-accounts`: reading, checking, disconnecting accounts and handing out fresh access tokens.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { ApiError, notFound } from '../http/errors.ts';
import { Cursor, IdParam, listOf, sendSerialized, SocialAccount, SOCIAL_ACCOUNT_EXAMPLE, success, TenantId } from '../http/schemas.ts';
import { documentedOnly } from '../http/openapi.ts';
import { NetworkError } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { disconnectAccount } from './disconnect.ts';
import { accountsPage, decryptTokens, findAccount, toAccountView, type AccountRow } from './accounts.ts';
import { checkHealth, Health } from './health.ts';
import { isSandboxAccount, makeSandboxGrantDie } from './sandbox-grant.ts';

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
        const page = await accountsPage(
          ctx.db,
          req.caller.orgId,
          { tenantId: q.tenantId ?? q.tenant_id, network: q.network, networkUniqueId: q.networkUniqueId, username: q.username, status: q.status },
          { limit: q.limit, offset: q.offset, cursor: q.cursor },
        );
        // The most read response: the page's JSON comes ready-made and goes out as it is.
        return sendSerialized(
          reply,
          '{"success":true,"data":',
          page.data,
          `,"count":${page.count},"limit":${page.limit},"offset":${page.offset},"next_cursor":${JSON.stringify(page.next_cursor)}}`,
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
      '/v1/social-accounts/:id/sandbox/revoke-grant',
      {
        schema: {
          tags: ['Social accounts'],
          operationId: 'revokeSandboxGrant',
          summary: "Sandbox accounts only: make the account's grant die at the sandbox, to test how your app handles `reauth_required`",
          description:
            'The sandbox revokes the grant (and every token) the account was connected with, as a person removing your app in a network\'s settings would; accounts connected through the same sandbox sign-in lose it too. Switchboard finds out as it would from a real network: at the next refresh, publish or health check, or at once with `check_now` (the default), which runs the health check. The account then becomes `reauth_required` and `account.reauth_required` is sent to your webhooks.',
          params: IdParam,
          body: z.object({ check_now: z.boolean().default(true).describe('Run the health check at once (default true)') }).nullish().meta({ examples: [{ check_now: true }] }),
          response: {
            200: success(z.object({ revoked: z.boolean().describe('Whether the sandbox had a live grant to revoke'), account: SocialAccount }), {
              revoked: true,
              account: { ...SOCIAL_ACCOUNT_EXAMPLE, network: 'sandbox', status: 'reauth_required' },
            }),
          },
          errors: {
            404: 'Social account not found',
            409: { description: 'Not a sandbox account, or one with no live tokens', example: { success: false, error: 'Not a sandbox account', code: 'conflict', message: 'Only sandbox accounts have a sandbox grant to revoke' } },
          },
        },
      },
      async (req) => {
        const account = await accountOr404(req.caller.orgId, req.params.id);
        if (!isSandboxAccount(account)) throw new ApiError(409, 'Not a sandbox account', 'Only sandbox accounts have a sandbox grant to revoke');
        const died = await makeSandboxGrantDie(ctx, account, { checkNow: req.body?.check_now ?? true });
        if (!died) throw new ApiError(409, 'Account has no live tokens', 'The account is disconnected or already needs reconnecting: there is no grant to revoke');
        return { success: true as const, data: { revoked: died.revoked, account: toAccountView(died.account) } };
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
      async (req) => ({ success: true as const, data: await checkHealth(ctx, await accountOr404(req.caller.orgId, req.params.id)) }),
    );
  };
}
