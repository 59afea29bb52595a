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
  return withPostsAndAccounts(ctx, targets, () => lease);
}

async function withPostsAndAccounts(ctx: AppContext, targets: TargetRow[], leaseOf: (t: TargetRow) => Date): Promise<ClaimedTarget[]> {
  const [postRows, accountById] = await Promise.all([
    rawQuery<PostRow>(ctx.db, POSTS, [[...new Set(targets.map((t) => t.postId))]], { prepare: true }),
    accountsById(ctx, [...new Set(targets.map((t) => t.accountId))]),
  ]);
  const postById = new Map(postRows.map((p) => [p.id, p]));
  return targets.map((target) => ({ target, post: postById.get(target.postId), account: accountById.get(target.accountId), lease: leaseOf(target) }));
}

// Ahead of their instant: targets due within the lookahead and not leased are leased until a few seconds past their
// instant (to the millisecond, as JavaScript reads it back for later writes to compare) — nobody else takes them
// meanwhile, and if this worker dies they are anyone's again that soon after — and read with their posts and
// accounts. Their status is left as it is and their posts are not marked: until they start, the post can still be
// edited or cancelled, which takes the lease back (posts.ts), and `startClaimedAhead` then leaves the target alone.
/** How long past its instant a target claimed ahead stays held: its start (a second before) may run late by this. */
const HELD_PAST_INSTANT_MS = 5_000;
const CLAIM_AHEAD = `
with soon as (
  select id from post_targets
  where status in ('pending', 'publishing') and due_at > $1 and due_at <= $2::timestamptz + $6 * interval '1 millisecond'
    and lease_until is null
    and due_at <= $2::timestamptz + case when status = 'pending' then coalesce(($5::jsonb ->> network)::integer, 0) else 0 end * interval '1 millisecond'
  order by due_at
  limit $3
  for update skip locked
), claimed as (
  update post_targets t set lease_until = date_trunc('milliseconds', t.due_at) + $4 * interval '1 millisecond'
  from soon where t.id = soon.id
  returning t.*
)
select ${selectList(postTargets)} from claimed`;

/** Per network, how much earlier than the lookahead its targets not yet begun are taken (`prepareAheadSeconds`). */
function preparedEarlier(ctx: AppContext): { byNetwork: string; most: number } {
  const byNetwork: Record<string, number> = {};
  for (const network of ctx.adapters.supported()) {
    const seconds = ctx.adapters.get(network)?.publishing?.prepareAheadSeconds;
    if (seconds) byNetwork[network] = seconds * 1000;
  }
  return { byNetwork: JSON.stringify(byNetwork), most: Math.max(0, ...Object.values(byNetwork)) };
}

export async function claimTargetsAhead(ctx: AppContext, limit: number): Promise<ClaimedTarget[]> {
  const now = new Date();
  const horizon = new Date(now.getTime() + ctx.config.publishing.lookaheadMs);
  const earlier = preparedEarlier(ctx);
  const targets = await rawQuery<TargetRow>(ctx.db, CLAIM_AHEAD, [now, horizon, limit, HELD_PAST_INSTANT_MS, earlier.byNetwork, earlier.most], { prepare: true });
  if (!targets.length) return [];
  return withPostsAndAccounts(ctx, targets, (t) => t.leaseUntil!);
}

// At their instant: the targets still leased as they were claimed ahead and unchanged since (not edited, cancelled or
// taken back meanwhile — an edit takes the lease back, and a later claim ahead may give it the same end again, so the
// row's own `updated_at` is compared too) become `publishing` under a fresh lease, and their posts are marked — as CLAIM does for targets due now.
// Which accounts changed since they were read is answered too, so that those are read again before use.
const START_AHEAD = `
with v as (
  select * from jsonb_to_recordset($1::jsonb) as v(k integer, id text, lease timestamptz, updated timestamptz, account_updated timestamptz)
), started as (
  update post_targets t set status = 'publishing', lease_until = $2, updated_at = now()
  from v where t.id = v.id and t.lease_until = v.lease and date_trunc('milliseconds', t.updated_at) = v.updated
  returning v.k, t.post_id, t.account_id, v.account_updated
), marked as (
  update posts set status = 'publishing', updated_at = now()
  where id in (select post_id from started) and status = 'scheduled'
)
select s.k, s.account_id as "accountId",
  date_trunc('milliseconds', a.updated_at) is distinct from s.account_updated as "accountChanged"
from started s left join social_accounts a on a.id = s.account_id`;

export interface StartedAhead {
  /** The started one's place in the list given. */
  k: number;
  accountId: string;
  accountChanged: boolean;
}

/** Starts targets claimed ahead; answers those still ours (by their place in `claimed`), now leased until `lease`. */
export function startClaimedAhead(ctx: AppContext, claimed: ClaimedTarget[], lease: Date): Promise<StartedAhead[]> {
  const rows = claimed.map((c, k) => ({
    k,
    id: c.target.id,
    lease: c.lease.toISOString(),
    updated: c.target.updatedAt.toISOString(),
    account_updated: c.account?.updatedAt.toISOString() ?? null,
  }));
  return rawQuery<StartedAhead>(ctx.db, START_AHEAD, [JSON.stringify(rows), lease], { prepare: true });
}

/** Gives back targets claimed ahead that will not be started here (the worker stops): anyone's again at once. */
export async function releaseClaimedAhead(ctx: AppContext, claimed: ClaimedTarget[]): Promise<void> {
  if (!claimed.length) return;
  const rows = claimed.map((c) => ({ id: c.target.id, lease: c.lease.toISOString() }));
  await rawQuery(ctx.db, RELEASE_AHEAD, [JSON.stringify(rows)]);
}

const RELEASE_AHEAD = `
update post_targets t set lease_until = null
from jsonb_to_recordset($1::jsonb) as v(id text, lease timestamptz)
where t.id = v.id and t.lease_until = v.lease`;

export async function accountsById(ctx: AppContext, ids: string[]): Promise<Map<string, AccountRow>> {
  const rows = await rawQuery<AccountRow>(ctx.db, ACCOUNTS, [ids], { prepare: true });
  return new Map(rows.map((a) => [a.id, a]));
}
