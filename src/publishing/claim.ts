// Claiming due targets: one statement takes up to N of them (`due_at <= now`, lease free or run out) with FOR UPDATE
// SKIP LOCKED, leases them to this worker, and marks their posts `publishing` — so any number of workers share the
// work without a coordinator and each target is worked on by one of them at a time. The claimed targets' posts and
// accounts are read in two more statements for the whole batch, so that publishing one starts with no query of its
// own. Written for the driver (db/raw.ts): this runs for every target, and Drizzle's builder cost more CPU than the
// statements.
import type { AppContext } from '../context.ts';
import { rawQuery, selectList } from '../db/raw.ts';
import { posts, postTargets, socialAccounts } from '../db/schema.ts';
import type { AccountRow } from '../accounts/accounts.ts';
import type { PostRow, TargetRow } from './posts.ts';

export interface ClaimedTarget {
  target: TargetRow;
  /** The post as it was when the target was claimed (its status may still read `scheduled`). */
  post: PostRow | undefined;
  account: AccountRow | undefined;
  /** The lease's end as written: every later write is conditional on it. */
  lease: Date;
}

const CLAIM = `
with due as (
  select id from post_targets
  where status in ('pending', 'publishing') and due_at <= $1 and (lease_until is null or lease_until < $1)
  order by due_at
  limit $2
  for update skip locked
), claimed as (
  update post_targets t set status = 'publishing', lease_until = $3
  from due where t.id = due.id
  returning t.*
), marked as (
  update posts set status = 'publishing', updated_at = $1
  where id in (select post_id from claimed) and status = 'scheduled'
)
select ${selectList(postTargets)} from claimed`;

const POSTS = `select ${selectList(posts)} from posts where id = any($1::text[])`;
const ACCOUNTS = `select ${selectList(socialAccounts)} from social_accounts where id = any($1::text[])`;

export async function claimDueTargets(ctx: AppContext, limit: number): Promise<ClaimedTarget[]> {
  const now = new Date();
  const lease = new Date(now.getTime() + ctx.config.publishing.leaseMs);
  const targets = await rawQuery<TargetRow>(ctx.db, CLAIM, [now, limit, lease], { prepare: true });
  if (!targets.length) return [];
  const [postRows, accountRows] = await Promise.all([
    rawQuery<PostRow>(ctx.db, POSTS, [[...new Set(targets.map((t) => t.postId))]], { prepare: true }),
    rawQuery<AccountRow>(ctx.db, ACCOUNTS, [[...new Set(targets.map((t) => t.accountId))]], { prepare: true }),
  ]);
  const postById = new Map(postRows.map((p) => [p.id, p]));
  const accountById = new Map(accountRows.map((a) => [a.id, a]));
  return targets.map((target) => ({ target, post: postById.get(target.postId), account: accountById.get(target.accountId), lease }));
}
