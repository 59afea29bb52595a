// Keeping tokens fresh: on demand (`POST /v1/social-accounts/{id}/token`, health checks) and in the background.
//
// One refresh at a time per account across the whole cluster. The refresher takes the account's lease with a
// conditional UPDATE (`refresh_lease_until`): the row-level "lock" that every process and the background
// engine respect, without holding a database connection or transaction across the network call. Under the
// lease it re-reads the row and skips the call if someone else refreshed meanwhile; the new tokens, the next
// refresh time and the lease release are written in one transaction, only while the lease is still ours.
// So a rotating refresh token is never presented twice, and a refresh token is never replaced by an absent
// one. Callers who find the lease taken wait for its holder and use the tokens it wrote. A process that dies
// mid-refresh loses nothing: its lease expires and the account is claimed again.
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { socialAccounts } from '../db/schema.ts';
import { decryptTokens, emitAccountEvent, findAccountById, tokenColumns, type AccountRow } from '../accounts/accounts.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { NetworkError, type NetworkId, type TokenSet } from '../providers/types.ts';
import { backoffMs, nextRefreshTime, refreshable } from './schedule.ts';
import { recordTokenRefresh } from '../observability/metrics.ts';

/** Refresh on demand when the token has less than this left. */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;
const WAIT_STEP_MS = 100;
/** `NetworkError.code` when a refresher finds its lease gone before it could store the new tokens. */
export const LEASE_LOST = 'lease_lost';

export class AccountUnusableError extends Error {
  constructor(
    readonly account: AccountRow | undefined,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export function needsRefresh(row: Pick<AccountRow, 'tokenExpiresAt'>, marginMs = REFRESH_MARGIN_MS, now = Date.now()) {
  return row.tokenExpiresAt !== null && row.tokenExpiresAt.getTime() - now < marginMs;
}

const inFlight = new Map<string, Promise<AccountRow>>();

/** The account with a token valid for at least the margin, refreshed first if needed (or when `force`d). */
export async function ensureFreshToken(ctx: AppContext, account: AccountRow, opts: { force?: boolean } = {}): Promise<AccountRow> {
  if (account.status !== 'active' || !account.accessTokenEnc) {
    throw new AccountUnusableError(account, account.status === 'disconnected' ? 'The account is disconnected' : 'The account must be reconnected');
  }
  if (!opts.force && !needsRefresh(account)) return account;
  // Callers in this process share one refresh; across processes the lease decides.
  const running = inFlight.get(account.id);
  if (running) return running;
  const refresh = refreshWhenLeased(ctx, account.id, opts.force ?? false).finally(() => inFlight.delete(account.id));
  inFlight.set(account.id, refresh);
  return refresh;
}

/** Takes the account's lease, or waits for whoever holds it and uses their result. */
async function refreshWhenLeased(ctx: AppContext, accountId: string, force: boolean): Promise<AccountRow> {
  const startedAt = Date.now();
  for (;;) {
    const leased = await takeLease(ctx, accountId);
    if (leased) {
      const refreshedMeanwhile = leased.row.lastRefreshedAt && leased.row.lastRefreshedAt.getTime() >= startedAt;
      if (refreshedMeanwhile || (!force && !needsRefresh(leased.row))) return releaseLease(ctx, leased.row, leased.lease);
      return refreshLeased(ctx, leased.row, leased.lease);
    }
    const current = await findAccountById(ctx.db, accountId);
    if (!current || current.status !== 'active') throw new AccountUnusableError(current, 'The account must be reconnected');
    if (current.lastRefreshedAt && current.lastRefreshedAt.getTime() >= startedAt && !needsRefresh(current)) return current;
    if (Date.now() - startedAt > ctx.config.worker.leaseMs + 5_000) {
      throw new NetworkError('transient', 'temporarily_unavailable', 'Another refresh of this account did not finish in time');
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
  }
}

async function takeLease(ctx: AppContext, accountId: string): Promise<{ row: AccountRow; lease: Date } | undefined> {
  const now = new Date();
  const lease = new Date(now.getTime() + ctx.config.worker.leaseMs);
  const [row] = await ctx.db
    .update(socialAccounts)
    .set({ refreshLeaseUntil: lease })
    .where(
      and(
        eq(socialAccounts.id, accountId),
        eq(socialAccounts.status, 'active'),
        or(isNull(socialAccounts.refreshLeaseUntil), lt(socialAccounts.refreshLeaseUntil, now)),
      ),
    )
    .returning();
  return row ? { row, lease } : undefined;
}

/** Only while the lease is still ours: a holder that outlived its lease must not write over its successor. */
const holding = (row: AccountRow, lease: Date) => and(eq(socialAccounts.id, row.id), eq(socialAccounts.refreshLeaseUntil, lease));

async function releaseLease(ctx: AppContext, row: AccountRow, lease: Date): Promise<AccountRow> {
  const [released] = await ctx.db.update(socialAccounts).set({ refreshLeaseUntil: null }).where(holding(row, lease)).returning();
  return released ?? row;
}

/**
 * Refreshes an account whose lease the caller holds (on-demand path above, or the background engine's claim) and
 * records the outcome: new tokens; `reauth_required` + webhook for a dead grant; backoff for a transient failure.
 */
export async function refreshLeased(ctx: AppContext, row: AccountRow, claimedLease: Date): Promise<AccountRow> {
  // The refresh token is about to be presented: the lease must outlast the call, or a worker that finds it run
  // out would present the same token again (and a rotating network revokes the grant).
  const lease = await leaseForCall(ctx, row, claimedLease);
  if (!lease) throw new NetworkError('transient', LEASE_LOST, 'The refresh lease ran out and the account was taken by another refresher');
  try {
    return await refreshAndRecord(ctx, row, lease);
  } catch (err) {
    // Anything but a recorded network outcome (a database hiccup, say): give the lease back so the account is
    // retried at once rather than after the lease runs out.
    if (!(err instanceof NetworkError) && !(err instanceof AccountUnusableError)) await releaseLease(ctx, row, lease).catch(() => {});
    throw err;
  }
}

async function refreshAndRecord(ctx: AppContext, row: AccountRow, lease: Date): Promise<AccountRow> {
  const adapter = ctx.adapters.get(row.network as NetworkId);
  const config = await findNetworkConfig(ctx.db, row.orgId, row.network);
  const current = decryptTokens(ctx.keyring, row);
  if (!adapter?.refresh || !config || !current) {
    await releaseLease(ctx, row, lease);
    throw new AccountUnusableError(row, 'This token cannot be refreshed: reconnect the account');
  }
  let fresh: TokenSet;
  try {
    fresh = await adapter.refresh({ app: appCredentials(ctx, config, adapter), tokens: current, metadata: row.metadata });
  } catch (err) {
    if (!(err instanceof NetworkError)) throw err;
    await recordFailure(ctx, row, lease, err);
    throw err;
  }
  const refreshed = await ctx.db.transaction(async (tx) => {
    const now = new Date();
    const [updated] = await tx
      .update(socialAccounts)
      .set({
        ...tokenColumns(ctx.keyring, row, fresh),
        nextRefreshAt: nextRefreshTime(fresh.expiresAt, refreshable(adapter, fresh, row.metadata)),
        refreshLeaseUntil: null,
        lastRefreshedAt: now,
        refreshFailures: 0,
        lastError: null,
        updatedAt: now,
      })
      .where(holding(row, lease))
      .returning();
    if (!updated) throw new NetworkError('transient', LEASE_LOST, 'The refresh lease expired before the new tokens could be stored');
    if (row.refreshFailures > 0) await emitAccountEvent(tx, updated, 'account.recovered');
    return updated;
  });
  recordTokenRefresh(row.network, 'refreshed');
  return refreshed;
}

/** Time a lease must have left when a call starts, beyond the call's own limit (the writes after it). */
const LEASE_MARGIN_MS = 5_000;

/**
 * The lease to present the refresh token under: the one held, while it has time left for a whole call; else
 * renewed, if it is still ours (a lease that ran out but that nobody took is still ours); else undefined. A claim
 * leases its whole batch at once, and on a slow network or database the batch's last accounts start late: before
 * this, one could start with seconds left, be claimed by another worker meanwhile, and its token be presented twice
 * (test/refresh-engine.test.ts).
 */
async function leaseForCall(ctx: AppContext, row: AccountRow, lease: Date): Promise<Date | undefined> {
  if (lease.getTime() - Date.now() >= ctx.config.upstreamTimeoutMs + LEASE_MARGIN_MS) return lease;
  const renewed = new Date(Date.now() + ctx.config.worker.leaseMs);
  const [kept] = await ctx.db.update(socialAccounts).set({ refreshLeaseUntil: renewed }).where(holding(row, lease)).returning({ id: socialAccounts.id });
  return kept ? renewed : undefined;
}

/** Every line about one account's refresh names it, its organization and its network. */
export const refreshLog = (ctx: AppContext, row: AccountRow) => ctx.log.child({ accountId: row.id, orgId: row.orgId, network: row.network });

async function recordFailure(ctx: AppContext, row: AccountRow, lease: Date, err: NetworkError) {
  const permanent = err.kind === 'permanent';
  const failures = row.refreshFailures + 1;
  await ctx.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(socialAccounts)
      .set({
        // A network outage must not mark accounts broken: only a dead grant does.
        status: permanent ? 'reauth_required' : row.status,
        nextRefreshAt: permanent ? null : new Date(Date.now() + backoffMs(failures, err.retryAfterSeconds)),
        refreshLeaseUntil: null,
        refreshFailures: failures,
        lastError: err.description,
        updatedAt: new Date(),
      })
      .where(holding(row, lease))
      .returning();
    if (updated && permanent) await emitAccountEvent(tx, updated, 'account.reauth_required', { reason: err.description });
  });
  recordTokenRefresh(row.network, permanent ? 'reauth_required' : 'retrying');
  refreshLog(ctx, row).info({ kind: err.kind, failures }, 'refresh failed');
}
