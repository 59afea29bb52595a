// Getting a usable access token for an account, refreshing it when it is about to expire.
//
// One refresh at a time per account: concurrent callers in this process share one promise, and across
// processes (PostgreSQL) the refresh runs under a row lock (`SELECT … FOR UPDATE`), re-reads the row under the
// lock, skips the network call if another process already refreshed, and writes the new tokens in the same
// transaction — so a rotating refresh token is never presented twice. Embedded PGlite is one process and one
// connection: there the in-process single-flight is the lock (a transaction held across the network call
// would block the connection the sandbox itself needs).
import { eq } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { socialAccounts } from '../db/schema.ts';
import { decryptTokens, tokenColumns, type AccountRow } from '../accounts/accounts.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { NetworkError, type NetworkId, type TokenSet } from '../providers/types.ts';

/** Refresh when the token has less than this left. */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;

export class AccountUnusableError extends Error {
  constructor(
    readonly account: AccountRow,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const inFlight = new Map<string, Promise<AccountRow>>();

export function needsRefresh(row: Pick<AccountRow, 'tokenExpiresAt'>, marginMs = REFRESH_MARGIN_MS, now = Date.now()) {
  return row.tokenExpiresAt !== null && row.tokenExpiresAt.getTime() - now < marginMs;
}

/** The account with a token valid for at least `marginMs`, refreshed first if needed (or when `force`d). */
export async function ensureFreshToken(ctx: AppContext, account: AccountRow, opts: { force?: boolean } = {}): Promise<AccountRow> {
  if (account.status !== 'active' || !account.accessTokenEnc) {
    throw new AccountUnusableError(account, account.status === 'disconnected' ? 'The account is disconnected' : 'The account must be reconnected');
  }
  if (!opts.force && !needsRefresh(account)) return account;
  const running = inFlight.get(account.id);
  if (running) return running;
  const refresh = refreshUnderLock(ctx, account.id, opts.force ?? false).finally(() => inFlight.delete(account.id));
  inFlight.set(account.id, refresh);
  return refresh;
}

async function refreshUnderLock(ctx: AppContext, accountId: string, force: boolean): Promise<AccountRow> {
  const startedAt = Date.now();
  const work = async (db: DbOrTx, lock: boolean) => {
    const query = db.select().from(socialAccounts).where(eq(socialAccounts.id, accountId));
    const [row] = lock ? await query.for('update') : await query;
    if (!row || row.status !== 'active' || !row.accessTokenEnc) throw new AccountUnusableError(row, 'The account must be reconnected');
    // Someone else refreshed while we waited for the lock: use their tokens.
    const refreshedMeanwhile = row.lastRefreshedAt && row.lastRefreshedAt.getTime() >= startedAt;
    if (refreshedMeanwhile || (!force && !needsRefresh(row))) return row;
    return refreshRow(ctx, db, row);
  };
  if (ctx.database.kind === 'postgres') return ctx.db.transaction((tx) => work(tx, true));
  return work(ctx.db, false);
}

async function refreshRow(ctx: AppContext, db: DbOrTx, row: AccountRow): Promise<AccountRow> {
  const adapter = ctx.adapters.get(row.network as NetworkId);
  const config = await findNetworkConfig(db, row.orgId, row.network);
  if (!adapter?.refresh || !config) {
    throw new AccountUnusableError(row, 'This token cannot be refreshed: reconnect the account');
  }
  const current = decryptTokens(ctx.keyring, row)!;
  let fresh: TokenSet;
  try {
    fresh = await adapter.refresh({ app: appCredentials(ctx, config, adapter), tokens: current, metadata: row.metadata });
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    const permanent = err.kind === 'permanent';
    await db
      .update(socialAccounts)
      .set({
        status: permanent ? 'reauth_required' : row.status,
        refreshFailures: row.refreshFailures + 1,
        lastError: err.description,
        updatedAt: new Date(),
      })
      .where(eq(socialAccounts.id, row.id));
    throw err;
  }
  const now = new Date();
  const [updated] = await db
    .update(socialAccounts)
    .set({ ...tokenColumns(ctx.keyring, row, fresh), lastRefreshedAt: now, refreshFailures: 0, lastError: null, updatedAt: now })
    .where(eq(socialAccounts.id, row.id))
    .returning();
  return updated;
}
