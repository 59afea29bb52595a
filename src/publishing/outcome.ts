// A target's end (published, failed, cancelled) and, when it was the post's last, the post's: its status and its
// webhook (`post.published` / `post.partial` / `post.error`), written in the same transaction as the change.
//
// Every target ends once, so the ends are group-committed (db/batch.ts): the targets that finish while one such
// transaction is in flight end together in the next — one statement for their rows, one lock and one count for their
// posts, the posts' views and webhooks built for all of them at once. Each caller still waits for its own commit.
import { and, eq } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { batched } from '../db/batch.ts';
import type { Tx } from '../db/database.ts';
import { selectList, tableRows, txQuery } from '../db/raw.ts';
import { posts, socialAccounts, type TargetPart } from '../db/schema.ts';
import { emitAccountEvent } from '../accounts/accounts.ts';
import { emitEvents, type EventType } from '../webhooks/events.ts';
import type { TargetLease } from './lease.ts';
import type { TargetRow } from './posts.ts';
import { postViews } from './views.ts';
import { recordPublishTarget } from '../observability/metrics.ts';

/** Everything a target's end writes; what the caller leaves out keeps the target's current value. */
export interface TargetEnd {
  status: 'published' | 'failed' | 'cancelled';
  parts: TargetPart[];
  attempts: number;
  error: string | null;
  errorCategory: string | null;
  platformPostId: string | null;
  platformPostUrl: string | null;
  publishedAt: Date | null;
}

interface EndWrite {
  id: string;
  lease: string;
  status: TargetEnd['status'];
  parts: TargetPart[];
  attempts: number;
  error: string | null;
  error_category: string | null;
  platform_post_id: string | null;
  platform_post_url: string | null;
  published_at: string | null;
}

const END_TARGETS = `
update post_targets t set status = v.status, parts = v.parts, attempts = v.attempts, error = v.error,
  error_category = v.error_category, platform_post_id = v.platform_post_id, platform_post_url = v.platform_post_url,
  published_at = v.published_at, due_at = null, lease_until = null, updated_at = now()
from jsonb_to_recordset($1::jsonb) as v(id text, lease timestamptz, status text, parts jsonb, attempts integer, error text,
  error_category text, platform_post_id text, platform_post_url text, published_at timestamptz)
where t.id = v.id and t.lease_until = v.lease
returning t.id, t.post_id as "postId"`;

const LOCK_POSTS = `select ${selectList(posts)} from posts where id in (select jsonb_array_elements_text($1::jsonb)) order by id for update`;

const COUNT_TARGETS = `
select post_id as "postId", count(*)::int as total,
  count(*) filter (where status = 'published')::int as published,
  count(*) filter (where status = 'failed')::int as failed,
  count(*) filter (where status in ('published', 'failed', 'cancelled'))::int as done
from post_targets where post_id in (select jsonb_array_elements_text($1::jsonb)) group by post_id`;

const END_POSTS = `
update posts p set status = v.status, published_at = case when v.published then $2::timestamptz else null end, updated_at = $2::timestamptz
from jsonb_to_recordset($1::jsonb) as v(id text, status text, published boolean)
where p.id = v.id
returning ${selectList(posts, [], 'p')}`;

const EVENT_FOR: Record<'published' | 'partial' | 'failed', EventType> = { published: 'post.published', partial: 'post.partial', failed: 'post.error' };

/** When no target of these posts is still to do: each post's final status, its publishing time, and its webhook. */
async function rollUp(ctx: AppContext, tx: Tx, postIds: string[]): Promise<void> {
  if (!postIds.length) return;
  const ids = JSON.stringify([...postIds].sort());
  // Locked in one order by every worker, so two batches sharing posts wait for each other instead of deadlocking.
  const locked = tableRows(posts, await txQuery(tx, LOCK_POSTS, [ids]));
  const counts = new Map(
    (await txQuery<{ postId: string; total: number; published: number; failed: number; done: number }>(tx, COUNT_TARGETS, [ids])).map((c) => [c.postId, c]),
  );
  const changes: Array<{ id: string; status: 'published' | 'partial' | 'failed'; published: boolean }> = [];
  for (const post of locked) {
    const c = counts.get(post.id);
    if (post.status === 'cancelled' || !c || c.done < c.total || (!c.published && !c.failed)) continue;
    const status = c.failed === 0 ? 'published' : c.published === 0 ? 'failed' : 'partial';
    if (post.status !== status) changes.push({ id: post.id, status, published: c.published > 0 });
  }
  if (!changes.length) return;
  const ended = tableRows(posts, await txQuery(tx, END_POSTS, [JSON.stringify(changes), new Date().toISOString()]));
  const views = await postViews(ctx, tx, ended);
  await emitEvents(
    tx,
    views.map((view) => ({ orgId: view.orgId, type: EVENT_FOR[view.status as 'published' | 'partial' | 'failed'], data: { post: view } })),
  );
}

/** One process's group-committed ends, per application context (its database and its media URLs). */
const writers = new WeakMap<AppContext, (write: EndWrite) => Promise<boolean>>();

function endWriter(ctx: AppContext) {
  let writer = writers.get(ctx);
  if (!writer) {
    writer = batched(
      (writes: EndWrite[]) =>
        ctx.db.transaction(async (tx) => {
          const ended = await txQuery<{ id: string; postId: string }>(tx, END_TARGETS, [JSON.stringify(writes)]);
          await rollUp(ctx, tx, [...new Set(ended.map((e) => e.postId))]);
          const held = new Set(ended.map((e) => e.id));
          return writes.map((w) => held.has(w.id));
        }),
      { maxBatch: 200 },
    );
    writers.set(ctx, writer);
  }
  return writer;
}

/**
 * What every line about one publish target carries: it, its post, its account, its organization. Fields on the line
 * rather than a child logger: this is on the hot path, and a child costs pino its redaction set-up each time.
 */
export const publishFields = (target: TargetRow) => ({ targetId: target.id, postId: target.postId, accountId: target.accountId, orgId: target.orgId, network: target.network });

/** Records a target's end under its lease, and rolls the post up if every target is now done. */
export async function finishTarget(ctx: AppContext, lease: TargetLease, target: TargetRow, end: Partial<TargetEnd> & Pick<TargetEnd, 'status'>): Promise<void> {
  const row: TargetEnd = {
    parts: target.parts,
    attempts: target.attempts,
    error: target.error,
    errorCategory: target.errorCategory,
    platformPostId: target.platformPostId,
    platformPostUrl: target.platformPostUrl,
    publishedAt: target.publishedAt,
    ...end,
  };
  await lease.finish((until) =>
    endWriter(ctx)({
      id: target.id,
      lease: until.toISOString(),
      status: row.status,
      parts: row.parts,
      attempts: row.attempts,
      error: row.error,
      error_category: row.errorCategory,
      platform_post_id: row.platformPostId,
      platform_post_url: row.platformPostUrl,
      published_at: row.publishedAt?.toISOString() ?? null,
    }),
  );
  // Only once the end is written under our lease (a lost lease throws above): each target is counted once.
  recordPublishTarget(target.network, row.status);
  ctx.log.info({ ...publishFields(target), status: row.status, attempts: row.attempts, category: row.errorCategory ?? undefined }, 'publish target ended');
}

/** A publish refused for a dead token, after one refresh: the account needs its person (with its webhook). */
export async function markReauthRequired(ctx: AppContext, accountId: string, reason: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .update(socialAccounts)
      .set({ status: 'reauth_required', nextRefreshAt: null, lastError: reason, updatedAt: new Date() })
      .where(and(eq(socialAccounts.id, accountId), eq(socialAccounts.status, 'active')))
      .returning();
    if (row) await emitAccountEvent(tx, row, 'account.reauth_required', { reason });
  });
}
