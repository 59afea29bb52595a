// The sandbox network's posts and media, as stored in `sandbox_posts` and `sandbox_media`: what its resource API
// writes and its timeline pages read.
import { and, desc, eq, gte, inArray, isNull, lt, sql } from 'drizzle-orm';
import { Readable } from 'node:stream';
import type { Db } from '../db/database.ts';
import type { MediaStore } from '../media/store.ts';
import { sandboxMedia, sandboxOidcModels, sandboxPosts } from '../db/schema.ts';
import { newId } from '../security/ids.ts';
import { pagesOf, USERNAME_PATTERN, userIdentity, type SandboxIdentity } from './people.ts';

export type SandboxPost = typeof sandboxPosts.$inferSelect;
export interface MediaFacts {
  id: string;
  authorId: string;
  contentType: string;
}

/** The newest posts a timeline shows; older ones are not listed (the sandbox has no paging). */
export const TIMELINE_SIZE = 200;

/** The bytes go to the media store first; the row that names them is written once they are there. */
export async function saveMedia(db: Db, store: MediaStore, authorId: string, contentType: string, bytes: Buffer): Promise<string> {
  const id = newId();
  const storageKey = `sandbox/${id}`;
  await store.put(storageKey, Readable.from([bytes]), { contentType, maxBytes: bytes.length });
  await db.insert(sandboxMedia).values({ id, authorId, contentType, storageKey, size: bytes.length });
  return id;
}

/** Who uploaded each of these media and what they are, without their bytes. */
export async function mediaFacts(db: Db, ids: readonly string[]): Promise<Map<string, MediaFacts>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: sandboxMedia.id, authorId: sandboxMedia.authorId, contentType: sandboxMedia.contentType })
    .from(sandboxMedia)
    .where(inArray(sandboxMedia.id, [...ids]));
  return new Map(rows.map((row) => [row.id, row]));
}

export async function mediaBytes(db: Db, store: MediaStore, id: string): Promise<{ contentType: string; size: number; stream: Readable } | undefined> {
  const [row] = await db.select().from(sandboxMedia).where(eq(sandboxMedia.id, id));
  if (!row) return undefined;
  return { contentType: row.contentType, size: row.size, stream: await store.get(row.storageKey) };
}

export interface NewPost {
  authorId: string;
  text: string;
  mediaIds: string[];
  replyToId: string | null;
  idempotencyKey: string | null;
}

/**
 * Makes the post, or — when this author already made one with this idempotency key — finds that one instead.
 * `created` tells which. The unique index on (author, key) settles two requests racing with the same key.
 */
export async function createPost(db: Db, post: NewPost): Promise<{ post: SandboxPost; created: boolean }> {
  if (post.idempotencyKey !== null) {
    const earlier = await postByKey(db, post.authorId, post.idempotencyKey, { evenDeleted: true });
    if (earlier) return { post: earlier, created: false };
  }
  const [inserted] = await db
    .insert(sandboxPosts)
    .values({ id: newId(), ...post })
    .onConflictDoNothing({ target: [sandboxPosts.authorId, sandboxPosts.idempotencyKey] })
    .returning();
  if (inserted) return { post: inserted, created: true };
  const winner = await postByKey(db, post.authorId, post.idempotencyKey!, { evenDeleted: true });
  if (!winner) throw new Error('A post with this idempotency key vanished while it was being made');
  return { post: winner, created: false };
}

export async function postByKey(db: Db, authorId: string, key: string, opts: { evenDeleted?: boolean } = {}): Promise<SandboxPost | undefined> {
  const [row] = await db
    .select()
    .from(sandboxPosts)
    .where(and(eq(sandboxPosts.authorId, authorId), eq(sandboxPosts.idempotencyKey, key), opts.evenDeleted ? undefined : isNull(sandboxPosts.deletedAt)));
  return row;
}

/** A post that has not been deleted. */
export async function visiblePost(db: Db, id: string): Promise<SandboxPost | undefined> {
  const [row] = await db.select().from(sandboxPosts).where(and(eq(sandboxPosts.id, id), isNull(sandboxPosts.deletedAt)));
  return row;
}

export async function deletePost(db: Db, id: string): Promise<void> {
  await db.update(sandboxPosts).set({ deletedAt: new Date() }).where(and(eq(sandboxPosts.id, id), isNull(sandboxPosts.deletedAt)));
}

/** An identity's newest posts that have not been deleted, newest first. */
export async function postsBy(db: Db, authorId: string, limit = TIMELINE_SIZE): Promise<SandboxPost[]> {
  return db
    .select()
    .from(sandboxPosts)
    .where(and(eq(sandboxPosts.authorId, authorId), isNull(sandboxPosts.deletedAt)))
    .orderBy(desc(sandboxPosts.createdAt), desc(sandboxPosts.id))
    .limit(limit);
}

/** The posts with these ids, deleted or not (to tell what a reply answers). */
export async function postsById(db: Db, ids: readonly string[]): Promise<Map<string, SandboxPost>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select().from(sandboxPosts).where(inArray(sandboxPosts.id, [...ids]));
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * The sandbox identity with this username, if it exists: a user who has signed in at least once (a grant) or
 * posted, or a page of such a user. Everything else about an identity is derived from its name (people.ts).
 */
export async function findIdentity(db: Db, publicUrl: string, username: string): Promise<SandboxIdentity | undefined> {
  if (!USERNAME_PATTERN.test(username)) return undefined;
  const owner = /^(.+)-page-\d+$/.exec(username)?.[1];
  const page = owner ? pagesOf(publicUrl, owner).find((p) => p.username === username) : undefined;
  if (page && (await hasSignedIn(db, owner!))) return page;
  if (await hasSignedIn(db, username)) return userIdentity(publicUrl, username);
  const [posted] = await db.select({ id: sandboxPosts.id }).from(sandboxPosts).where(eq(sandboxPosts.authorId, username)).limit(1);
  if (posted) return page ?? userIdentity(publicUrl, username);
  return undefined;
}

async function hasSignedIn(db: Db, accountId: string): Promise<boolean> {
  const [grant] = await db
    .select({ id: sandboxOidcModels.id })
    .from(sandboxOidcModels)
    .where(and(eq(sandboxOidcModels.kind, 'Grant'), sql`${sandboxOidcModels.payload}->>'accountId' = ${accountId}`))
    .limit(1);
  return Boolean(grant);
}

/** What an identity's posts made in a period drew: the posts, and the replies they have (from anyone, not deleted). */
export async function activityOf(db: Db, authorId: string, since: Date, until: Date): Promise<{ postIds: string[]; replies: number; postsCount: number }> {
  const [{ postsCount }] = await db
    .select({ postsCount: sql<number>`count(*)::int` })
    .from(sandboxPosts)
    .where(and(eq(sandboxPosts.authorId, authorId), isNull(sandboxPosts.deletedAt)));
  const made = await db
    .select({ id: sandboxPosts.id })
    .from(sandboxPosts)
    .where(and(eq(sandboxPosts.authorId, authorId), isNull(sandboxPosts.deletedAt), gte(sandboxPosts.createdAt, since), lt(sandboxPosts.createdAt, until)));
  const postIds = made.map((p) => p.id);
  if (postIds.length === 0) return { postIds, replies: 0, postsCount };
  const [{ replies }] = await db
    .select({ replies: sql<number>`count(*)::int` })
    .from(sandboxPosts)
    .where(and(inArray(sandboxPosts.replyToId, postIds), isNull(sandboxPosts.deletedAt)));
  return { postIds, replies, postsCount };
}
