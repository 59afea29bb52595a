// The background refresh engine, run by every worker (and the in-process worker of `serve`). No coordinator:
// each tick claims a batch of due accounts with `FOR UPDATE SKIP LOCKED` and leases them, so any number of
// workers share the work and each account is refreshed by exactly one of them.
import { and, eq, gt, inArray, isNotNull, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { socialAccounts } from '../db/schema.ts';
import { emitAccountEvent } from '../accounts/accounts.ts';
import { NetworkError } from '../providers/types.ts';
import { AccountUnusableError, LEASE_LOST, refreshLeased, refreshLog } from './refresh.ts';

/**
 * Claims up to `batch` due accounts and refreshes them, `concurrency` at a time. Returns how many it claimed. When
 * `stopping` fires (shutdown), the claimed accounts not yet started are handed back at once, for any worker; the
 * refreshes already sent are left to finish, since their refresh token may have been presented.
 */
export async function refreshDueAccounts(ctx: AppContext, opts: { batch: number; concurrency: number; stopping?: AbortSignal }): Promise<number> {
  const now = new Date();
  const lease = new Date(now.getTime() + ctx.config.worker.leaseMs);
  const claimed = await ctx.db.transaction(async (tx) => {
    const due = await tx
      .select({ id: socialAccounts.id })
      .from(socialAccounts)
      .where(
        and(
          eq(socialAccounts.status, 'active'),
          lte(socialAccounts.nextRefreshAt, now),
          or(isNull(socialAccounts.refreshLeaseUntil), lt(socialAccounts.refreshLeaseUntil, now)),
        ),
      )
      .orderBy(socialAccounts.nextRefreshAt)
      .limit(opts.batch)
      .for('update', { skipLocked: true });
    if (!due.length) return [];
    return tx
      .update(socialAccounts)
      .set({ refreshLeaseUntil: lease })
      .where(inArray(socialAccounts.id, due.map((d) => d.id)))
      .returning();
  });
  let next = 0;
  let handedBack: Promise<unknown> = Promise.resolve();
  const handBack = () => {
    const unstarted = claimed.slice(next).map((row) => row.id);
    next = claimed.length;
    if (!unstarted.length) return;
    handedBack = ctx.db
      .update(socialAccounts)
      .set({ refreshLeaseUntil: null })
      .where(and(inArray(socialAccounts.id, unstarted), eq(socialAccounts.refreshLeaseUntil, lease)))
      .catch((err: unknown) => ctx.log.warn({ err }, 'handing back claimed refreshes failed'));
  };
  if (opts.stopping?.aborted) handBack();
  else opts.stopping?.addEventListener('abort', handBack, { once: true });
  const runner = async () => {
    while (next < claimed.length) {
      const row = claimed[next++];
      // Network failures are recorded on the account (backoff or reauth_required) by refreshLeased.
      await refreshLeased(ctx, row, lease).catch((err) => {
        if (!(err instanceof NetworkError) && !(err instanceof AccountUnusableError)) {
          refreshLog(ctx, row).error({ err }, 'refresh failed unexpectedly');
        } else if (err instanceof NetworkError && err.code === LEASE_LOST) {
          refreshLog(ctx, row).warn(err.description);
        }
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, claimed.length) }, runner));
  } finally {
    opts.stopping?.removeEventListener('abort', handBack);
    await handedBack;
  }
  return claimed.length;
}

/**
 * `account.expiring`, once per grant, `days` before a person must re-authorize: the refresh token's end, or the
 * access token's end for accounts the engine cannot refresh.
 */
export async function notifyExpiring(ctx: AppContext, days: number): Promise<number> {
  const horizon = new Date(Date.now() + days * 24 * 3600_000);
  const now = new Date();
  return ctx.db.transaction(async (tx) => {
    const rows = await tx
      .update(socialAccounts)
      .set({ expiringNotifiedAt: now })
      .where(
        and(
          eq(socialAccounts.status, 'active'),
          isNull(socialAccounts.expiringNotifiedAt),
          or(
            and(isNotNull(socialAccounts.refreshTokenExpiresAt), lte(socialAccounts.refreshTokenExpiresAt, horizon)),
            and(isNull(socialAccounts.nextRefreshAt), lte(socialAccounts.tokenExpiresAt, horizon), gt(socialAccounts.tokenExpiresAt, sql`now() - interval '30 days'`)),
          ),
        ),
      )
      .returning();
    for (const row of rows) {
      const expiresAt = row.refreshTokenExpiresAt ?? row.tokenExpiresAt;
      await emitAccountEvent(tx, row, 'account.expiring', { reauthorize_by: expiresAt?.toISOString() ?? null });
    }
    return rows.length;
  });
}
