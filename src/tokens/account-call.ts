// A call to an account's network outside a post — its metrics, its publishing options, preflight questions only the
// network can answer. The organization's app, the account's token (refreshed first when due), and one forced
// refresh when the network says the token died early: the same rules as publishing and the proxy.
import type { AppContext } from '../context.ts';
import { decryptTokens, publishAccountOf, type AccountRow } from '../accounts/accounts.ts';
import { appCredentialsFor } from '../networks/network-configs.ts';
import { NetworkError, PublishError, type AccountCallContext, type NetworkAdapter } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from './refresh.ts';

/** Refreshes the account's token if needed; an account that cannot refresh is `auth_expired`. */
async function fresh(ctx: AppContext, account: AccountRow, force: boolean): Promise<AccountRow> {
  try {
    return await ensureFreshToken(ctx, account, { force });
  } catch (err) {
    if (err instanceof AccountUnusableError) throw new PublishError('auth_expired', err.reason);
    if (err instanceof NetworkError) {
      if (err.kind === 'permanent') throw new PublishError('auth_expired', err.description);
      throw new PublishError('platform_error', err.description, { retryAfterSeconds: err.retryAfterSeconds });
    }
    throw err;
  }
}

/** Runs `call` with the account's current token; failures are `PublishError`s, classified. */
export async function callAsAccount<T>(
  ctx: AppContext,
  account: AccountRow,
  adapter: NetworkAdapter,
  call: (input: AccountCallContext) => Promise<T>,
): Promise<T> {
  const app = await appCredentialsFor(ctx, account.orgId, adapter);
  const attempt = async (row: AccountRow) => {
    const tokens = decryptTokens(ctx.keyring, row);
    if (!tokens) throw new PublishError('auth_expired', 'The account has no token: reconnect it');
    return call({ app, accessToken: tokens.accessToken, account: publishAccountOf(row) });
  };
  let row = await fresh(ctx, account, false);
  try {
    return await attempt(row);
  } catch (err) {
    if (!(err instanceof PublishError) || err.category !== 'auth_expired') throw err;
    row = await fresh(ctx, row, true);
    return attempt(row);
  }
}
