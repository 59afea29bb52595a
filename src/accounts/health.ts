// Checking an account's token against its network's identity endpoint, refreshing once when the network says the
// token is dead: for `GET /v1/social-accounts/{id}/health`, the MCP tool `get_account_health` and the dashboard
// alike. A dead grant is recorded on the account by the refresh (tokens/refresh.ts): `reauth_required` and the
// `account.reauth_required` webhook.
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { NetworkError, type NetworkId } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { decryptTokens, findAccount, type AccountRow } from './accounts.ts';

/** What the API and the MCP tool answer. */
export const Health = z.object({
  id: z.string(),
  healthy: z.boolean(),
  status: z.enum(['active', 'reauth_required', 'disconnected']),
  token_expires_at: z.string().nullable(),
  checked_at: z.string(),
  error: z.string().optional(),
});
export type Health = z.infer<typeof Health>;

export async function checkHealth(ctx: AppContext, account: AccountRow): Promise<Health> {
  const { healthy, account: row, error } = await checkAccountHealth(ctx, account);
  return {
    id: row.id,
    healthy,
    status: row.status,
    token_expires_at: row.tokenExpiresAt?.toISOString() ?? null,
    checked_at: new Date().toISOString(),
    ...(error ? { error } : {}),
  };
}

export interface AccountHealth {
  healthy: boolean;
  /** The account as it is after the check. */
  account: AccountRow;
  error?: string;
}

export async function checkAccountHealth(ctx: AppContext, account: AccountRow): Promise<AccountHealth> {
  const adapter = ctx.adapters.get(account.network as NetworkId);
  const config = await findNetworkConfig(ctx.db, account.orgId, account.network);
  if (!adapter || !config || account.status !== 'active') return { healthy: false, account, error: 'The account is not active' };
  const app = appCredentials(ctx, config, adapter);
  const check = async (row: AccountRow) => adapter.verify({ app, accessToken: decryptTokens(ctx.keyring, row)!.accessToken, metadata: row.metadata });
  const current = async () => (await findAccount(ctx.db, account.orgId, account.id)) ?? account;
  try {
    account = await ensureFreshToken(ctx, account);
    await check(account);
    return { healthy: true, account };
  } catch (err) {
    if (!(err instanceof NetworkError) || err.kind !== 'permanent' || !adapter.refresh) return { healthy: false, account: await current(), error: errorText(err) };
  }
  // The network said the token is dead: refresh once and check again.
  try {
    account = await ensureFreshToken(ctx, account, { force: true });
    await check(account);
    return { healthy: true, account };
  } catch (err) {
    return { healthy: false, account: await current(), error: errorText(err) };
  }
}

function errorText(err: unknown): string {
  if (err instanceof NetworkError) return err.description;
  if (err instanceof AccountUnusableError) return err.reason;
  throw err;
}
