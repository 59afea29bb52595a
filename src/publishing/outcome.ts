// A target's end (published, failed, cancelled) and, when it was the post's last, the post's: its status and its
// webhook (`post.published` / `post.partial` / `post.error`), written in the same transaction as the change.
import { and, eq, inArray } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { Tx } from '../db/database.ts';
import { posts, postTargets, socialAccounts } from '../db/schema.ts';
import { emitAccountEvent } from '../accounts/accounts.ts';
import { emitEvent } from '../webhooks/events.ts';
import type { TargetLease } from './lease.ts';
import { TERMINAL_TARGET, type PostRow } from './posts.ts';
import { postView } from './views.ts';

type TargetUpdate = Partial<typeof postTargets.$inferInsert>;

/** Records a target's end under its lease, and rolls the post up if every target is now done. */
export async function finishTarget(ctx: AppContext, lease: TargetLease, postId: string, changes: TargetUpdate): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await lease.update({ ...changes, dueAt: null, leaseUntil: null }, tx);
    await rollUp(ctx, tx, postId);
  });
}

/** When no target of the post is still to do: the post's final status, its publishing time, and its webhook. */
export async function rollUp(ctx: AppContext, tx: Tx, postId: string): Promise<void> {
  const [post] = await tx.select().from(posts).where(eq(posts.id, postId)).for('update');
  if (!post || post.status === 'cancelled') return;
  const statuses = await tx.select({ status: postTargets.status }).from(postTargets).where(eq(postTargets.postId, postId));
  if (!statuses.length || !statuses.every((s) => (TERMINAL_TARGET as readonly string[]).includes(s.status))) return;
  const published = statuses.filter((s) => s.status === 'published').length;
  const failed = statuses.filter((s) => s.status === 'failed').length;
  if (!published && !failed) return;
  const status: PostRow['status'] = failed === 0 ? 'published' : published === 0 ? 'failed' : 'partial';
  if (post.status === status) return;
  const now = new Date();
  const [updated] = await tx
    .update(posts)
    .set({ status, publishedAt: published ? now : null, updatedAt: now })
    .where(eq(posts.id, postId))
    .returning();
  const type = status === 'published' ? 'post.published' : status === 'partial' ? 'post.partial' : 'post.error';
  await emitEvent(tx, post.orgId, type, { post: await postView(ctx, tx, updated) });
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

/** Posts whose status says "publishing" once their first target is taken. */
export async function markPublishing(tx: Tx, postIds: string[]): Promise<void> {
  if (!postIds.length) return;
  await tx
    .update(posts)
    .set({ status: 'publishing', updatedAt: new Date() })
    .where(and(inArray(posts.id, postIds), eq(posts.status, 'scheduled')));
}
