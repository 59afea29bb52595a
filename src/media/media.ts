// The media concern: files uploaded (presigned PUT, then confirm) or imported from a URL, kept in the media store,
// described by a `media` row whose type, size, dimensions and duration were read from the bytes (inspect.ts), and
// served to networks that fetch by URL at an unguessable address (urls.ts, public-routes.ts).
//
// A row is `pending` from `POST /v1/media/upload` until confirmed, then `active` for 60 days — or longer while a
// draft, scheduled or publishing post uses it —, then `deleted` (bytes removed; the row stays as a record).
// Every upload is stored under a key of its own (`{org}/{media}/{random}`), and the row is pointed at it only when
// the bytes are complete and the media still pending: a second PUT racing a confirm, or a confirm racing a second
// PUT, can never leave a row describing bytes other than those it points at.
import type { Readable } from 'node:stream';
import { and, desc, eq, inArray, lte, ne, or, sql } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { media, posts } from '../db/schema.ts';
import { ApiError, badRequest, conflict } from '../http/errors.ts';
import type { PublishMedia } from '../providers/publishing-contract.ts';
import { DestinationRefused, UnresolvableHost } from '../security/destinations.ts';
import { newId } from '../security/ids.ts';
import { OutboundFailure, type OutboundStream } from '../security/outbound-http.ts';
import { urlProblem } from '../security/private-urls.ts';
import { randomToken } from '../security/secrets.ts';
import { ACCEPTED_TYPES, inspectStored, UnsupportedMedia } from './inspect.ts';
import { MediaTooLarge } from './store.ts';
import { publicToken, uploadUrl } from './urls.ts';

export type MediaRow = typeof media.$inferSelect;

const DAY_MS = 24 * 60 * 60 * 1000;
/** A confirmed file is kept this long (or while a post that has not gone out yet uses it). */
export const MEDIA_LIFETIME_MS = 60 * DAY_MS;
/** An upload never confirmed is dropped after this. */
export const PENDING_LIFETIME_MS = DAY_MS;
/** Redirects followed when importing from a URL, each one checked as the first URL was. */
const MAX_IMPORT_REDIRECTS = 3;
/** Post statuses in which a post still needs its media's bytes. */
const POSTS_NEEDING_MEDIA_ON_DELETE = ['scheduled', 'publishing'] as const;
const POSTS_NEEDING_MEDIA_ON_EXPIRY = ['draft', 'scheduled', 'publishing'] as const;

// ---- names ----

const EXTENSION = /\.[A-Za-z0-9]{1,10}$/;

/** Why a filename cannot be used, or undefined. 1–255 characters, ending with an extension, no path. */
export function filenameProblem(name: string): string | undefined {
  if (!name.length || name.length > 255) return 'must be 1–255 characters';
  if (/[/\\]/.test(name) || /\p{Cc}/u.test(name)) return 'must be a plain file name (no slashes or control characters)';
  if (!EXTENSION.test(name)) return 'must end with an extension (photo.jpg, clip.mp4)';
  return undefined;
}

/**
 * The name in the public URL: ASCII letters, digits, `.`, `_`, `-` (some fetchers choke on anything else), with the
 * extension of the type read from the bytes — a PNG uploaded as photo.jpg is served as photo.png.
 */
export function servedFilename(row: Pick<MediaRow, 'filename' | 'contentType'>): string {
  const extension = (row.contentType && ACCEPTED_TYPES[row.contentType]?.extension) || row.filename.match(EXTENSION)?.[0].slice(1) || 'bin';
  const base = row.filename
    .replace(EXTENSION, '')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, 100);
  return `${base || 'media'}.${extension}`;
}

// ---- what callers see ----

export function publicMediaUrl(ctx: AppContext, row: Pick<MediaRow, 'id' | 'filename' | 'contentType'>): string {
  return `${ctx.config.publicUrl}/media/${publicToken(ctx, row.id)}/${servedFilename(row)}`;
}

export interface MediaView {
  id: string;
  filename: string;
  url: string | null;
  content_type: string | null;
  size: number | null;
  width?: number;
  height?: number;
  duration_seconds?: number;
  status: 'pending' | 'active' | 'deleted';
  created_at: string;
  expires_at: string;
}

export function mediaView(ctx: AppContext, row: MediaRow): MediaView {
  const active = row.status === 'active';
  return {
    id: row.id,
    filename: row.filename,
    url: active ? publicMediaUrl(ctx, row) : null,
    content_type: active ? row.contentType : null,
    size: active ? row.size : null,
    ...(active && row.width !== null ? { width: row.width } : {}),
    ...(active && row.height !== null ? { height: row.height } : {}),
    ...(active && row.durationSeconds !== null ? { duration_seconds: row.durationSeconds } : {}),
    status: row.status,
    created_at: row.createdAt.toISOString(),
    expires_at: row.expiresAt.toISOString(),
  };
}

/** The bytes of a stored file, or an inclusive range of them. */
export function openMedia(ctx: AppContext, row: Pick<MediaRow, 'storageKey'>, range?: { start: number; end: number }): Promise<Readable> {
  return ctx.mediaStore.get(row.storageKey, range);
}

/** A confirmed file as an adapter sees it (providers/publishing-contract.ts). */
export function toPublishMedia(ctx: AppContext, row: MediaRow, alt: string | null): PublishMedia {
  if (row.status !== 'active' || !row.contentType || !row.kind || row.size === null) throw new Error(`Media ${row.id} is ${row.status}, not active`);
  return {
    id: row.id,
    filename: servedFilename(row),
    contentType: row.contentType,
    kind: row.kind,
    size: row.size,
    width: row.width,
    height: row.height,
    durationSeconds: row.durationSeconds,
    alt,
    url: publicMediaUrl(ctx, row),
    open: (range) => openMedia(ctx, row, range),
  };
}

// ---- finding ----

export async function findMedia(ctx: AppContext, orgId: string, id: string): Promise<MediaRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(media)
    .where(and(eq(media.id, id), eq(media.orgId, orgId), ne(media.status, 'deleted')));
  return row;
}

/** An organization's media that is not deleted, newest first. */
export async function listMedia(ctx: AppContext, orgId: string, page: { limit: number; offset: number }): Promise<MediaRow[]> {
  return ctx.db
    .select()
    .from(media)
    .where(and(eq(media.orgId, orgId), ne(media.status, 'deleted')))
    .orderBy(desc(media.id))
    .limit(page.limit)
    .offset(page.offset);
}

/**
 * The organization's active media among `ids`, by id (for the posts API: a container's `{id}` media). Inside a
 * transaction, `lock` takes a share lock on the rows, so a concurrent DELETE waits for the post to be written and
 * then sees it.
 */
export async function activeMediaByIds(db: DbOrTx, orgId: string, ids: string[], lock = false): Promise<Map<string, MediaRow>> {
  if (!ids.length) return new Map();
  const query = db
    .select()
    .from(media)
    .where(and(eq(media.orgId, orgId), inArray(media.id, ids), eq(media.status, 'active')));
  const rows = lock ? await query.for('share') : await query;
  return new Map(rows.map((r) => [r.id, r]));
}

const notFound = () => new ApiError(404, 'Media not found');

// ---- upload ----

function newStorageKey(orgId: string, mediaId: string): string {
  return `${orgId}/${mediaId}/${randomToken(9)}`;
}

export async function createUpload(ctx: AppContext, orgId: string, input: { filename: string; contentType?: string }) {
  const id = newId();
  const now = new Date();
  const [row] = await ctx.db
    .insert(media)
    .values({
      id,
      orgId,
      filename: input.filename,
      declaredContentType: input.contentType ?? null,
      status: 'pending',
      storageKey: newStorageKey(orgId, id),
      expiresAt: new Date(now.getTime() + MEDIA_LIFETIME_MS),
      createdAt: now,
    })
    .returning();
  const { url, expiresIn } = uploadUrl(ctx, id, now.getTime());
  return { row, uploadUrl: url, expiresIn };
}

const tooLarge = (maxBytes: number) =>
  new ApiError(413, 'File too large', `The most this installation accepts is ${maxBytes} bytes (SWITCHBOARD_MAX_MEDIA_BYTES)`, 'media_too_large');

/**
 * The bytes of a presigned PUT (the signature was checked by the route), streamed into the store. `declaredLength`
 * (Content-Length) past the limit is refused before a byte is read; a body that turns out longer fails when it
 * passes the limit, and nothing of it is kept.
 */
export async function receiveUpload(ctx: AppContext, mediaId: string, body: Readable, declaredLength?: number): Promise<{ id: string; size: number }> {
  const [row] = await ctx.db.select().from(media).where(eq(media.id, mediaId));
  if (!row || row.status === 'deleted') throw notFound();
  if (row.status === 'active') throw alreadyConfirmed();
  const { maxBytes } = ctx.config.media;
  if (declaredLength !== undefined && declaredLength > maxBytes) throw tooLarge(maxBytes);

  const key = newStorageKey(row.orgId, row.id);
  let size: number;
  try {
    ({ size } = await ctx.mediaStore.put(key, body, { contentType: 'application/octet-stream', maxBytes }));
  } catch (err) {
    if (err instanceof MediaTooLarge) throw tooLarge(maxBytes);
    throw err;
  }
  const previous = await ctx.db.transaction(async (tx) => {
    const [current] = await tx.select().from(media).where(eq(media.id, row.id)).for('update');
    if (!current || current.status !== 'pending') return current ?? null;
    await tx.update(media).set({ storageKey: key, size }).where(eq(media.id, row.id));
    return { ...current, replaced: true as const };
  });
  if (!previous || !('replaced' in previous)) {
    // Confirmed (or deleted) while these bytes were arriving: they are not the media's, and are dropped.
    await ctx.mediaStore.delete(key);
    throw previous?.status === 'active' ? alreadyConfirmed() : notFound();
  }
  // An earlier upload to the same URL is replaced.
  if (previous.size !== null) await ctx.mediaStore.delete(previous.storageKey).catch((err) => ctx.log.warn({ err, mediaId }, 'could not delete replaced upload'));
  return { id: row.id, size };
}

const alreadyConfirmed = () =>
  conflict('Media already confirmed', 'Its bytes cannot change after confirm; upload a new file with POST /v1/media/upload', 'media_already_confirmed');

// ---- confirm ----

export async function confirmMedia(ctx: AppContext, orgId: string, mediaId: string, expectedSize?: number): Promise<MediaRow> {
  const row = await findMedia(ctx, orgId, mediaId);
  if (!row) throw notFound();
  if (row.size === null) {
    throw conflict('Nothing uploaded yet', 'PUT the file to the upload_url of POST /v1/media/upload first, then confirm', 'media_not_uploaded');
  }
  if (expectedSize !== undefined && expectedSize !== row.size) {
    throw badRequest('Size mismatch', `The upload has ${row.size} bytes, not ${expectedSize}: it may have been cut short. Upload it again.`, 'media_size_mismatch');
  }
  if (row.status === 'active') return row;
  return confirmStored(ctx, row);
}

/** Reads the stored bytes and makes the row active with what they are. */
async function confirmStored(ctx: AppContext, row: MediaRow): Promise<MediaRow> {
  let facts;
  try {
    facts = await inspectStored(ctx.mediaStore, row.storageKey, row.size!);
  } catch (err) {
    if (err instanceof UnsupportedMedia) throw badRequest('Unsupported media', err.message, 'unsupported_media');
    throw err;
  }
  const now = new Date();
  const filename = EXTENSION.test(row.filename) ? row.filename : `${row.filename}.${ACCEPTED_TYPES[facts.contentType].extension}`;
  const [done] = await ctx.db
    .update(media)
    .set({ ...facts, filename, status: 'active', confirmedAt: now, expiresAt: new Date(now.getTime() + MEDIA_LIFETIME_MS) })
    .where(and(eq(media.id, row.id), eq(media.status, 'pending'), eq(media.storageKey, row.storageKey)))
    .returning();
  if (done) return done;
  const [current] = await ctx.db.select().from(media).where(eq(media.id, row.id));
  if (current?.status === 'active') return current; // confirmed by a concurrent call
  if (current?.status === 'pending') throw conflict('Uploaded again while confirming', 'The file was replaced by another PUT meanwhile; confirm again', 'media_replaced');
  throw notFound();
}

/**
 * A file that arrives inside another request (the dashboard's compose form): stored and confirmed exactly as an
 * upload to its presigned URL followed by confirm would be — streamed into the store with the same size limit,
 * its type read from the bytes. Nothing is kept when it fails.
 */
export async function receiveFile(ctx: AppContext, orgId: string, filename: string, body: Readable): Promise<MediaRow> {
  const { row } = await createUpload(ctx, orgId, { filename });
  try {
    await receiveUpload(ctx, row.id, body);
    return await confirmMedia(ctx, orgId, row.id);
  } catch (err) {
    const [current] = await ctx.db.select().from(media).where(eq(media.id, row.id));
    if (current?.size !== null && current?.size !== undefined) await ctx.mediaStore.delete(current.storageKey).catch(() => {});
    await ctx.db.delete(media).where(eq(media.id, row.id));
    throw err;
  }
}

// ---- import from a URL ----

const unreachable = (detail: string) => new ApiError(400, 'Media URL unreachable', detail, 'media_unreachable');

/** The last path segment of a URL, as a file name (without a usable one: `media`). */
function nameFromUrl(url: URL): string {
  let last = url.pathname.split('/').filter(Boolean).pop() ?? '';
  try {
    last = decodeURIComponent(last);
  } catch {
    /* keep it encoded */
  }
  last = last.replace(/[/\\\p{Cc}]/gu, '').slice(-255);
  return last || 'media';
}

/** GET through the guarded transport (public addresses only), following a few redirects, each checked again. */
async function fetchGuarded(ctx: AppContext, first: URL): Promise<OutboundStream> {
  let url = first;
  for (let redirects = 0; ; redirects++) {
    let res: OutboundStream;
    try {
      res = await ctx.outbound.stream(url, {
        headers: { accept: 'image/*, video/*;q=0.9, */*;q=0.5', 'user-agent': 'Switchboard-media-import' },
        timeoutMs: ctx.config.upstreamTimeoutMs,
        guard: true,
      });
    } catch (err) {
      if (err instanceof DestinationRefused) throw new ApiError(400, 'Media URL refused', `${err.message}: only public addresses can be imported from`, 'media_url_refused');
      if (err instanceof UnresolvableHost || err instanceof OutboundFailure) throw unreachable(err.message);
      throw err;
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      res.body.destroy();
      if (redirects >= MAX_IMPORT_REDIRECTS) throw unreachable(`${first.host} redirected more than ${MAX_IMPORT_REDIRECTS} times`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw unreachable(`${url.host} redirected to an invalid URL`);
      }
      const problem = urlProblem(next.href, ctx.config.allowPrivateUrls);
      if (problem) throw new ApiError(400, 'Media URL refused', `${url.host} redirected to a URL that ${problem}`, 'media_url_refused');
      url = next;
      continue;
    }
    if (res.status < 200 || res.status >= 300) {
      res.body.destroy();
      throw unreachable(`${url.host} answered HTTP ${res.status}`);
    }
    return res;
  }
}

/**
 * Imports a file from a URL and confirms it: `POST /v1/media {url}`, and a post container's `{url}` media. Same
 * SSRF rules as webhooks (public addresses only unless SWITCHBOARD_ALLOW_PRIVATE_URLS, every redirect checked
 * again), streamed into the store with the same size limit as uploads. Throws ApiError (400 refused, unreachable
 * or unsupported; 413 too large) and keeps nothing when it fails.
 */
export async function importMediaFromUrl(ctx: AppContext, orgId: string, url: string, filename?: string): Promise<MediaRow> {
  const problem = urlProblem(url, ctx.config.allowPrivateUrls);
  if (problem) throw new ApiError(400, 'Media URL refused', `url ${problem}`, 'media_url_refused');
  const source = new URL(url);
  const name = filename ?? nameFromUrl(source);
  if (filename !== undefined) {
    const bad = filenameProblem(filename);
    if (bad) throw badRequest('Invalid filename', `filename ${bad}`, 'invalid_filename');
  }

  const id = newId();
  const key = newStorageKey(orgId, id);
  const now = new Date();
  const [row] = await ctx.db
    .insert(media)
    .values({ id, orgId, filename: name, status: 'pending', storageKey: key, sourceUrl: url, expiresAt: new Date(now.getTime() + MEDIA_LIFETIME_MS), createdAt: now })
    .returning();
  const { maxBytes } = ctx.config.media;
  try {
    const res = await fetchGuarded(ctx, source);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      res.body.destroy();
      throw tooLarge(maxBytes);
    }
    let size: number;
    try {
      ({ size } = await ctx.mediaStore.put(key, res.body, { contentType: 'application/octet-stream', maxBytes }));
    } catch (err) {
      if (err instanceof MediaTooLarge) throw tooLarge(maxBytes);
      if (err instanceof OutboundFailure || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error).message === 'aborted') {
        throw unreachable(`The download from ${source.host} broke off: ${(err as Error).message}`);
      }
      throw err;
    }
    await ctx.db.update(media).set({ size }).where(eq(media.id, id));
    return await confirmStored(ctx, { ...row, size });
  } catch (err) {
    await ctx.mediaStore.delete(key).catch(() => {});
    await ctx.db.delete(media).where(eq(media.id, id));
    throw err;
  }
}

// ---- deleting ----

/** Posts of the organization in one of `statuses` whose containers use the media (at most a few, for the message). */
function postsUsing(db: DbOrTx, orgId: string, mediaId: string, statuses: readonly string[]) {
  return db
    .select({ id: posts.id })
    .from(posts)
    .where(and(eq(posts.orgId, orgId), inArray(posts.status, statuses as (typeof posts.status._.data)[]), usesMedia(sql`${mediaId}`)))
    .limit(5);
}

/** `posts.containers` (jsonb `[{…, media: [{id, alt}]}]`) holds the media id given as SQL. */
function usesMedia(mediaIdSql: ReturnType<typeof sql>) {
  return sql`${posts.containers} @> jsonb_build_array(jsonb_build_object('media', jsonb_build_array(jsonb_build_object('id', ${mediaIdSql}::text))))`;
}

/** `DELETE /v1/media/{id}`: the bytes leave the store; refused while a scheduled or publishing post uses the file. */
export async function deleteMedia(ctx: AppContext, orgId: string, mediaId: string): Promise<void> {
  const row = await ctx.db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(media)
      .where(and(eq(media.id, mediaId), eq(media.orgId, orgId), ne(media.status, 'deleted')))
      .for('update');
    if (!current) throw notFound();
    const users = await postsUsing(tx, orgId, mediaId, POSTS_NEEDING_MEDIA_ON_DELETE);
    if (users.length) {
      throw conflict('Media in use', `Post ${users.map((p) => p.id).join(', ')} is scheduled or publishing with this file; cancel it or wait until it is done`, 'media_in_use');
    }
    await tx.update(media).set({ status: 'deleted' }).where(eq(media.id, mediaId));
    return current;
  });
  await ctx.mediaStore.delete(row.storageKey);
}

/**
 * Housekeeping for the worker: media past its `expires_at` that no draft, scheduled or publishing post uses, and
 * uploads never confirmed for a day, are marked deleted and their bytes removed. Rows are claimed with FOR UPDATE
 * SKIP LOCKED, so workers running it at once share the work. Returns how many were deleted.
 */
export async function deleteExpiredMedia(ctx: AppContext, opts: { batch?: number; now?: Date } = {}): Promise<number> {
  const batch = opts.batch ?? 200;
  const now = opts.now ?? new Date();
  let total = 0;
  for (;;) {
    const claimed = await ctx.db.transaction(async (tx) => {
      const rows = await tx
        .select({ id: media.id, storageKey: media.storageKey })
        .from(media)
        .where(
          and(
            ne(media.status, 'deleted'),
            or(
              and(eq(media.status, 'active'), lte(media.expiresAt, now)),
              and(eq(media.status, 'pending'), lte(media.createdAt, new Date(now.getTime() - PENDING_LIFETIME_MS))),
            ),
            sql`not exists (select 1 from ${posts} where ${posts.orgId} = ${media.orgId} and ${inArray(posts.status, [...POSTS_NEEDING_MEDIA_ON_EXPIRY])} and ${usesMedia(sql`${media.id}`)})`,
          ),
        )
        .limit(batch)
        .for('update', { of: media, skipLocked: true });
      if (rows.length) await tx.update(media).set({ status: 'deleted' }).where(inArray(media.id, rows.map((r) => r.id)));
      return rows;
    });
    for (const row of claimed) {
      // A store that fails here leaves the bytes behind, not a row pointing at missing bytes.
      await ctx.mediaStore.delete(row.storageKey).catch((err) => ctx.log.warn({ err, mediaId: row.id }, 'could not delete expired media bytes'));
    }
    total += claimed.length;
    if (claimed.length < batch) return total;
  }
}
