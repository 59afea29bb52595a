// What is waiting, read from the database when Prometheus scrapes: the work that is due and no worker has
// claimed (token refreshes, publish targets, webhook deliveries) with the age of the oldest, and the accounts by
// network and status. These describe the whole installation, not this process: every instance reports the same
// values (aggregate them with max(), not sum()).
//
// Each due count is a range scan of its queue's partial index on the due time (social_accounts_refresh_idx,
// post_targets_due_idx, webhook_deliveries_due_idx): it reads only the rows that are due, so it costs nothing
// while the workers keep up and grows with a backlog, not with the table.
//
// The accounts by network and status are a count of the whole table, which no index makes cheap (an index on
// (network, status) only made it three times faster: bench/metrics-scrape.ts, 1,000,000 accounts). They are read
// again at every scrape while there are fewer than 100,000 accounts (a few milliseconds), and at most once a
// minute beyond: they change slowly.
import { Gauge, Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { rawQuery } from '../db/raw.ts';

/** The due-and-unclaimed rows of each queue, as the claims define them (tokens/engine.ts, publishing/claim.ts,
 * webhooks/delivery.ts); a claimed delivery has its `next_attempt_at` pushed ahead, so it is not due. */
export const QUEUE_BACKLOG = `
select 'token_refreshes' as queue, count(*)::int as due, coalesce(extract(epoch from now() - min(next_refresh_at)), 0)::float8 as oldest
  from social_accounts
  where status = 'active' and next_refresh_at <= now() and (refresh_lease_until is null or refresh_lease_until < now())
union all
select 'publish_targets', count(*)::int, coalesce(extract(epoch from now() - min(due_at)), 0)::float8
  from post_targets
  where status in ('pending', 'publishing') and due_at <= now() and (lease_until is null or lease_until < now())
union all
select 'webhook_deliveries', count(*)::int, coalesce(extract(epoch from now() - min(next_attempt_at)), 0)::float8
  from webhook_deliveries
  where status = 'pending' and next_attempt_at <= now()`;

export const ACCOUNTS_BY_STATUS = `select network, status, count(*)::int as n from social_accounts group by network, status`;

type Queue = 'token_refreshes' | 'publish_targets' | 'webhook_deliveries';

/** Fewer accounts than this are counted again at every scrape… */
const ACCOUNTS_COUNTED_EVERY_SCRAPE = 100_000;
/** …and more, only once this much time has passed. */
const ACCOUNTS_EVERY_MS = 60_000;

/** A registry of its own per database: tests run several servers in one process, each with its database. */
export class DatabaseGauges {
  readonly registry = new Registry();
  private readonly due: Record<Queue, Gauge>;
  private readonly oldest: Record<Queue, Gauge>;
  private readonly accounts: Gauge<'network' | 'status'>;
  private readonly up: Gauge;
  private accountsReadAt = 0;
  private accountsTotal = 0;

  constructor(private readonly db: Db) {
    const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [this.registry] });
    this.due = {
      token_refreshes: gauge('switchboard_token_refreshes_due', 'Accounts whose refresh is due and that no worker has claimed'),
      publish_targets: gauge('switchboard_publish_targets_due', 'Publish targets that are due and that no worker has claimed'),
      webhook_deliveries: gauge('switchboard_webhook_deliveries_due', 'Webhook deliveries that are due and that no worker has claimed'),
    };
    this.oldest = {
      token_refreshes: gauge('switchboard_token_refresh_oldest_due_seconds', 'How long the longest-waiting due refresh has been due (0: none waiting)'),
      publish_targets: gauge('switchboard_publish_target_oldest_due_seconds', 'How long the longest-waiting due publish target has been due (0: none waiting)'),
      webhook_deliveries: gauge('switchboard_webhook_delivery_oldest_due_seconds', 'How long the longest-waiting due webhook delivery has been due (0: none waiting)'),
    };
    this.accounts = new Gauge({ name: 'switchboard_accounts', help: 'Connected accounts by network and status', labelNames: ['network', 'status'] as const, registers: [this.registry] });
    this.up = gauge('switchboard_metrics_database_up', 'Whether the database answered this scrape\'s queries (0: the values above are stale)');
  }

  private reading: Promise<void> | undefined;

  /**
   * Reads the values now; scrapes that arrive meanwhile share the read (several Prometheus servers, or one that
   * retries, make no more queries). A database that fails leaves the last values, with
   * `switchboard_metrics_database_up` 0.
   */
  update(): Promise<void> {
    return (this.reading ??= this.read().finally(() => (this.reading = undefined)));
  }

  private async read(): Promise<void> {
    try {
      const countAccounts = this.accountsTotal < ACCOUNTS_COUNTED_EVERY_SCRAPE || Date.now() - this.accountsReadAt >= ACCOUNTS_EVERY_MS;
      const [queues] = await Promise.all([
        rawQuery<{ queue: Queue; due: number; oldest: number }>(this.db, QUEUE_BACKLOG, [], { prepare: true }),
        countAccounts ? this.updateAccounts() : undefined,
      ]);
      for (const q of queues) {
        this.due[q.queue].set(q.due);
        this.oldest[q.queue].set(Math.max(0, q.oldest));
      }
      this.up.set(1);
    } catch {
      this.markDatabaseDown();
    }
  }

  private async updateAccounts(): Promise<void> {
    const accounts = await rawQuery<{ network: string; status: string; n: number }>(this.db, ACCOUNTS_BY_STATUS, [], { prepare: true });
    this.accountsTotal = accounts.reduce((sum, a) => sum + a.n, 0);
    this.accountsReadAt = Date.now();
    // Reset first: a combination that no longer exists (the last X account disconnected) must not linger.
    this.accounts.reset();
    for (const a of accounts) this.accounts.set({ network: a.network, status: a.status }, a.n);
  }

  /** The scrape went on without the database (it failed, or did not answer in time). */
  markDatabaseDown(): void {
    this.up.set(0);
  }
}
