// Posts and their targets in the database: creating (with the accounts resolved and every target preflighted),
// reading as the API shows them, editing, cancelling, retrying. Both surfaces (`/v1/posts`, Ocoya's `/post`) call
// these; the worker (`engine.ts`) publishes what they leave due.
import { and, asc, desc, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { media, posts, postTargets, socialAccounts, type StoredContainer, type TargetPart } from '../db/schema.ts';
import { canonicalNetwork } from '../providers/registry.ts';
import { publishAccountOf } from '../accounts/accounts.ts';
import { withDefaults } from '../accounts/publishing-defaults.ts';
import type { NetworkAdapter, NetworkId, PublishContainer } from '../providers/types.ts';
import { ID_PATTERN, newId } from '../security/ids.ts';
import { publishMediaFor, type MediaRow } from './media-refs.ts';
import { checkOptions, preflightTarget } from './preflight.ts';
import { callAsAccount } from '../tokens/account-call.ts';

export type PostRow = typeof posts.$inferSelect;

export type TargetRow = typeof postTargets.$inferSelect;
type AccountRow = typeof socialAccounts.$inferSelect;

export const TERMINAL_TARGET = ['published', 'failed', 'cancelled'] as const;

/** A container as the caller wrote it, with media already resolved to stored files. */
export interface ContainerInput {
  content: string;
  media: Array<{ row: MediaRow; alt: string | null }>;
}

/** A refusal naming what is wrong, per field (`details` of the 400 `Invalid payload`, zod's format tree). */
export class PostRefused extends Error {
  constructor(readonly details: Record<string, unknown>) {
    super('Invalid payload');
  }
}

const errorsAt = (messages: string[]) => ({ _errors: messages });

/**
 * The accounts `accounts` names (Outstand): account ids, network names (every active account of that network) or
 * usernames — within `tenantId` when given. Anything that matches nothing, or an account that is not active, is
 * refused by name: a target is never dropped silently.
 */
export async function resolveAccounts(ctx: AppContext, orgId: string, names: string[], tenantId: string | undefined): Promise<AccountRow[]> {
  const found = new Map<string, AccountRow>();
  const problems: Record<string, unknown> = {};
  const scope = and(eq(socialAccounts.orgId, orgId), tenantId !== undefined ? eq(socialAccounts.tenantId, tenantId) : undefined);
  for (const name of [...new Set(names)]) {
    let rows: AccountRow[];
    const network = canonicalNetwork(name);
    if (ID_PATTERN.test(name)) {
      rows = await ctx.db.select().from(socialAccounts).where(and(scope, eq(socialAccounts.id, name)));
    } else if (network) {
      rows = await ctx.db.select().from(socialAccounts).where(and(scope, eq(socialAccounts.network, network), eq(socialAccounts.status, 'active')));
    } else {
      rows = await ctx.db
        .select()
        .from(socialAccounts)
        .where(and(scope, sql`lower(${socialAccounts.username}) = lower(${name.replace(/^@/, '')})`, eq(socialAccounts.status, 'active')));
    }
    if (!rows.length) {
      problems[name] = errorsAt([`${name} matches no ${network ? 'active ' : ''}account of this organization${tenantId !== undefined ? ` for tenant ${tenantId}` : ''}`]);
      continue;
    }
    for (const row of rows) {
      if (row.status !== 'active') {
        problems[row.id] = errorsAt([`The account ${row.username ?? row.id} is ${row.status === 'reauth_required' ? 'waiting to be reconnected' : 'disconnected'}: it cannot publish`]);
      } else {
        found.set(row.id, row);
      }
    }
  }
  if (Object.keys(problems).length) throw new PostRefused({ accounts: problems });
  return [...found.values()];
}

/** Per-network options as a post gives them (`{"pinterest": {…}}`). */
export type PostOptions = Record<string, Record<string, unknown>>;

/**
 * A new target's options: the post's own for the account's network, over the account's publishing defaults (the
 * post wins, field by field). Taken once, when the post is accepted: preflight checks them and the target keeps
 * them, so defaults changed later do not alter a post already checked.
 */
export const targetOptions = (account: AccountRow, options: PostOptions): Record<string, unknown> => withDefaults(account, options[account.network]);

/** An accepted target's options: its own, or (a target from before defaults) the post's for its network. */
export const storedTargetOptions = (post: Pick<PostRow, 'options'>, target: Pick<TargetRow, 'options' | 'network'>): Record<string, unknown> | undefined =>
  target.options ?? post.options[target.network];

/**
 * Preflight of every target with its options (`optionsOf`): `details.accounts.<id>._errors` for each account that
 * cannot take the post.
 */
export async function preflight(
  ctx: AppContext,
  accounts: AccountRow[],
  containers: ContainerInput[],
  optionsOf: (account: AccountRow) => Record<string, unknown> | undefined,
): Promise<void> {
  const problems: Record<string, unknown> = {};
  const atNetwork: Array<Promise<void>> = [];
  for (const account of accounts) {
    const adapter = ctx.adapters.get(account.network as NetworkId) as NetworkAdapter;
    const publishContainers: PublishContainer[] = containers.map((c, index) => ({
      index,
      text: c.content,
      media: c.media.map((m) => publishMediaFor(ctx, m.row, m.alt)),
    }));
    const rawOptions = optionsOf(account);
    const found = preflightTarget({ adapter, account: publishAccountOf(account) }, publishContainers, rawOptions);
    if (found.length) {
      problems[account.id] = errorsAt(found);
      continue;
    }
    // What only the network can tell (TikTok's creator_info), asked for every such account at once.
    const checkAtNetwork = adapter.publishing?.checkAtNetwork;
    if (!checkAtNetwork) continue;
    const networkOptions = checkOptions(adapter, rawOptions).options;
    atNetwork.push(
      callAsAccount(ctx, account, adapter, (c) => checkAtNetwork.call(adapter.publishing, { ...c, options: networkOptions, containers: publishContainers })).then(
        (found) => {
          if (found.length) problems[account.id] = errorsAt(found);
        },
        // Not knowing is not a refusal: the adapter checks again when it publishes.
        (err: unknown) => ctx.log.warn({ err, accountId: account.id }, 'preflight at the network could not ask; the post is accepted'),
      ),
    );
  }
  await Promise.all(atNetwork);
  if (Object.keys(problems).length) throw new PostRefused({ accounts: problems });
}

export interface NewPost {
  orgId: string;
  workspaceId?: string | null;
  tenantId?: string | null;
  containers: ContainerInput[];
  accounts: AccountRow[];
  scheduledAt: Date | null;
  isDraft: boolean;
  /** The post's own options; each target also keeps its account's defaults under them (`targetOptions`). */
  options: PostOptions;
}

function storedContainers(containers: ContainerInput[]): StoredContainer[] {
  return containers.map((c) => ({ id: newId(), content: c.content, media: c.media.map((m) => ({ id: m.row.id, alt: m.alt })) }));
}

/** A post is due now, later, or (a draft) not at all. */
function schedule(isDraft: boolean, scheduledAt: Date | null, hasTargets: boolean) {
  const now = new Date();
  if (isDraft || !hasTargets) return { status: 'draft' as const, dueAt: null };
  if (scheduledAt && scheduledAt > now) return { status: 'scheduled' as const, dueAt: scheduledAt };
  return { status: 'publishing' as const, dueAt: now };
}

export async function createPost(ctx: AppContext, input: NewPost): Promise<PostRow> {
  const { status, dueAt } = schedule(input.isDraft, input.scheduledAt, input.accounts.length > 0);
  const id = newId();
  return ctx.db.transaction(async (tx) => {
    const [post] = await tx
      .insert(posts)
      .values({
        id,
        orgId: input.orgId,
        workspaceId: input.workspaceId ?? null,
        tenantId: input.tenantId ?? null,
        status,
        isDraft: status === 'draft',
        scheduledAt: input.scheduledAt,
        containers: storedContainers(input.containers),
        options: input.options,
      })
      .returning();
    if (input.accounts.length) {
      await tx.insert(postTargets).values(
        input.accounts.map((a) => ({
          id: newId(),
          postId: id,
          orgId: input.orgId,
          accountId: a.id,
          network: a.network,
          dueAt,
          options: targetOptions(a, input.options),
        })),
      );
    }
    await keepMediaFor(tx, post);
    return post;
  });
}

/** A file lives 60 days, or until the last scheduled post using it is done (PRODUCT.md). */
async function keepMediaFor(tx: DbOrTx, post: PostRow) {
  const ids = post.containers.flatMap((c) => c.media.map((m) => m.id));
  if (!ids.length || !post.scheduledAt) return;
  const until = new Date(post.scheduledAt.getTime() + 7 * 24 * 3600_000);
  await tx
    .update(media)
    .set({ expiresAt: sql`greatest(${media.expiresAt}, ${until.toISOString()}::timestamptz)` })
    .where(and(eq(media.orgId, post.orgId), inArray(media.id, ids)));
}

export async function findPost(db: DbOrTx, orgId: string, id: string): Promise<PostRow | undefined> {
  if (!ID_PATTERN.test(id)) return undefined;
  const [row] = await db.select().from(posts).where(and(eq(posts.orgId, orgId), eq(posts.id, id)));
  return row;
}

export interface PostFilters {
  socialAccountId?: string;
  tenantId?: string;
  workspaceId?: string;
  statuses?: string[];
  createdAfter?: Date;
  createdBefore?: Date;
  scheduledAfter?: Date;
  scheduledBefore?: Date;
}

export async function listPosts(db: DbOrTx, orgId: string, f: PostFilters, page: { limit: number; offset: number }) {
  const where: SQL | undefined = and(
    eq(posts.orgId, orgId),
    f.tenantId !== undefined ? eq(posts.tenantId, f.tenantId) : undefined,
    f.workspaceId !== undefined ? eq(posts.workspaceId, f.workspaceId) : undefined,
    f.statuses?.length ? inArray(posts.status, f.statuses as PostRow['status'][]) : undefined,
    f.createdAfter ? gte(posts.createdAt, f.createdAfter) : undefined,
    f.createdBefore ? lte(posts.createdAt, f.createdBefore) : undefined,
    f.scheduledAfter ? gte(posts.scheduledAt, f.scheduledAfter) : undefined,
    f.scheduledBefore ? lte(posts.scheduledAt, f.scheduledBefore) : undefined,
    f.socialAccountId !== undefined
      ? sql`exists (select 1 from ${postTargets} where ${postTargets.postId} = ${posts.id} and ${postTargets.accountId} = ${f.socialAccountId})`
      : undefined,
  );
  const [rows, [{ total }]] = await Promise.all([
    db.select().from(posts).where(where).orderBy(desc(posts.id)).limit(page.limit).offset(page.offset),
    db.select({ total: sql<number>`count(*)::int` }).from(posts).where(where),
  ]);
  return { rows, total };
}

export async function targetsOf(db: DbOrTx, postIds: string[]): Promise<TargetRow[]> {
  if (!postIds.length) return [];
  return db.select().from(postTargets).where(inArray(postTargets.postId, postIds)).orderBy(asc(postTargets.id));
}

/** Locks a post's targets, then the post (the order the workers' claims take, so the two never deadlock). */
async function lockPost(tx: DbOrTx, orgId: string, id: string) {
  const targets = await tx.select().from(postTargets).where(eq(postTargets.postId, id)).orderBy(asc(postTargets.id)).for('update');
  const [post] = await tx.select().from(posts).where(and(eq(posts.orgId, orgId), eq(posts.id, id))).for('update');
  return { post, targets };
}

export class PostStateConflict extends Error {}

/**
 * Not started: a lease on such a target is a worker's that made it ready ahead of its instant (claim.ts); an edit or
 * a cancel takes that lease back, and the worker then leaves the target alone.
 */
const untouched = (t: TargetRow) => t.status === 'pending' && t.attempts === 0;

export interface PostChanges {
  scheduledAt?: Date | null;
  containers?: ContainerInput[];
  isDraft?: boolean;
}

/** Edits a draft or a scheduled post; `PostStateConflict` once publishing has begun. Preflight is the caller's. */
export async function updatePost(ctx: AppContext, orgId: string, id: string, changes: PostChanges): Promise<PostRow | undefined> {
  return ctx.db.transaction(async (tx) => {
    const { post, targets } = await lockPost(tx, orgId, id);
    if (!post) return undefined;
    if (!(post.status === 'draft' || post.status === 'scheduled') || !targets.every(untouched)) {
      throw new PostStateConflict(`The post is ${post.status}: only drafts and scheduled posts can be changed`);
    }
    const scheduledAt = changes.scheduledAt !== undefined ? changes.scheduledAt : post.scheduledAt;
    const isDraft = changes.isDraft ?? post.isDraft;
    const { status, dueAt } = schedule(isDraft, scheduledAt, targets.length > 0);
    const [updated] = await tx
      .update(posts)
      .set({
        status,
        isDraft: status === 'draft',
        scheduledAt,
        ...(changes.containers ? { containers: storedContainers(changes.containers) } : {}),
        updatedAt: new Date(),
      })
      .where(eq(posts.id, id))
      .returning();
    if (targets.length) await tx.update(postTargets).set({ dueAt, leaseUntil: null, updatedAt: new Date() }).where(eq(postTargets.postId, id));
    await keepMediaFor(tx, updated);
    return updated;
  });
}

/** Cancels a draft or a scheduled post; `PostStateConflict` once any target has started. */
export async function cancelPost(ctx: AppContext, orgId: string, id: string): Promise<PostRow | undefined> {
  return ctx.db.transaction(async (tx) => {
    const { post, targets } = await lockPost(tx, orgId, id);
    if (!post) return undefined;
    if (post.status === 'cancelled') return post;
    if (!(post.status === 'draft' || post.status === 'scheduled') || !targets.every(untouched)) {
      throw new PostStateConflict(
        post.status === 'published' || post.status === 'partial'
          ? 'The post is already published: delete it at the networks with DELETE /v1/posts/{id}/remote'
          : `The post is ${post.status}: publishing has begun`,
      );
    }
    const now = new Date();
    await tx.update(postTargets).set({ status: 'cancelled', dueAt: null, leaseUntil: null, updatedAt: now }).where(eq(postTargets.postId, id));
    const [updated] = await tx.update(posts).set({ status: 'cancelled', updatedAt: now }).where(eq(posts.id, id)).returning();
    return updated;
  });
}

/**
 * Publishes again to the targets that failed, and only to them: parts already at the network stay published (a
 * thread continues where it stopped). A part whose outcome was unknown is sent again only because the caller asks.
 */
export async function retryFailedTargets(ctx: AppContext, orgId: string, id: string): Promise<{ post: PostRow; retried: number } | undefined> {
  return ctx.db.transaction(async (tx) => {
    const { post, targets } = await lockPost(tx, orgId, id);
    if (!post) return undefined;
    const failed = targets.filter((t) => t.status === 'failed');
    if (!failed.length) throw new PostStateConflict(`The post has no failed targets to retry (it is ${post.status})`);
    const now = new Date();
    for (const t of failed) {
      const parts: TargetPart[] = t.parts.map((p) =>
        p.phase === 'creating' && t.errorCategory === 'unknown_outcome' ? { ...p, phase: 'preparing' } : p,
      );
      await tx
        .update(postTargets)
        .set({ status: 'pending', dueAt: now, leaseUntil: null, error: null, errorCategory: null, parts, updatedAt: now })
        .where(eq(postTargets.id, t.id));
    }
    const [updated] = await tx.update(posts).set({ status: 'publishing', publishedAt: null, updatedAt: now }).where(eq(posts.id, id)).returning();
    return { post: updated, retried: failed.length };
  });
}

/** The accounts behind targets, for the view (username, nickname, tenant). */
export async function accountsOf(db: DbOrTx, ids: string[]) {
  if (!ids.length) return new Map<string, Pick<AccountRow, 'id' | 'username' | 'nickname' | 'tenantId' | 'network'>>();
  const rows = await db
    .select({ id: socialAccounts.id, username: socialAccounts.username, nickname: socialAccounts.nickname, tenantId: socialAccounts.tenantId, network: socialAccounts.network })
    .from(socialAccounts)
    .where(inArray(socialAccounts.id, [...new Set(ids)]));
  return new Map(rows.map((r) => [r.id, r]));
}

/** Full account rows by id (the targets' accounts, for preflight of an edit). */
export async function accountsById(ctx: AppContext, ids: string[]): Promise<AccountRow[]> {
  if (!ids.length) return [];
  return ctx.db.select().from(socialAccounts).where(inArray(socialAccounts.id, [...new Set(ids)]));
}
