// "Make this grant die", for sandbox accounts only (dashboard and `POST /v1/social-accounts/{id}/sandbox/revoke-grant`):
// the sandbox network revokes the grant the account was connected with (sandbox/grants.ts), as a person removing
// the app in a real network's settings would. Switchboard is not told: it finds out as from a real network, at the
// next refresh, publish or health check — or at once when `checkNow`, through the health check.
import type { AppContext } from '../context.ts';
import { revokeSandboxGrant } from '../sandbox/grants.ts';
import { decryptTokens, type AccountRow } from './accounts.ts';
import { checkAccountHealth } from './health.ts';

export const isSandboxAccount = (account: Pick<AccountRow, 'network'>) => account.network === 'sandbox';

/**
 * Undefined when the account has no live tokens (disconnected, or already waiting to be reconnected); else whether
 * the sandbox had a live grant to revoke, and the account as it is afterwards.
 */
export async function makeSandboxGrantDie(ctx: AppContext, account: AccountRow, opts: { checkNow: boolean }): Promise<{ revoked: boolean; account: AccountRow } | undefined> {
  if (!isSandboxAccount(account)) throw new Error('only a sandbox account has a sandbox grant');
  const tokens = decryptTokens(ctx.keyring, account);
  if (account.status !== 'active' || !tokens) return undefined;
  const revoked = await revokeSandboxGrant(ctx.db, ctx.internalSecrets.sandboxPageTokenKey, tokens);
  ctx.log.info({ accountId: account.id, orgId: account.orgId, revoked }, 'sandbox grant revoked on request');
  if (!opts.checkNow) return { revoked, account };
  return { revoked, account: (await checkAccountHealth(ctx, account)).account };
}
