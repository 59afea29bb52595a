// Whether an account works: its token checked against the network's identity endpoint, refreshed once when the
// network says it died (`GET /v1/social-accounts/{id}/health`, and the MCP tool `get_account_health`).
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { NetworkError, type NetworkId } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { decryptTokens, findAccount, type AccountRow } from './accounts.ts';

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
  const adapter = ctx.adapters.get(account.network as NetworkId);
  const config = await findNetworkConfig(ctx.db, account.orgId, account.network);
  const report = (healthy: boolean, row: AccountRow, error?: string): Health => ({
    id: row.id,
    healthy,
    status: row.status,
    token_expires_at: row.tokenExpiresAt?.toISOString() ?? null,
    checked_at: new Date().toISOString(),
    ...(error ? { error } : {}),
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
}

function errorText(err: unknown): string {
  if (err instanceof NetworkError) return err.description;
  if (err instanceof AccountUnusableError) return err.reason;
  throw err;
}
