// The sandbox network's publishing API: media uploads, posts (with replies, for threads), finding a post by the
// caller's Idempotency-Key, and deleting. Documented for clients in src/providers/sandbox.ts.
import type { MediaStore } from '../media/store.ts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { ApiError, invalidRequest, notFound, requireScope, type Authenticate, type Caller } from './callers.ts';
import { createPost, deletePost, mediaFacts, postByKey, saveMedia, visiblePost, type SandboxPost } from './posts.ts';
import { SANDBOX_PATH } from './provider.ts';
import { visibilitiesOf } from './people.ts';

const MB = 1024 * 1024;

/** What the sandbox takes, and how large (PRODUCT.md: "The sandbox publishes too"). */
export const SANDBOX_MEDIA = {
  image: { contentTypes: ['image/png', 'image/jpeg', 'image/gif', 'image/webp'], maxBytes: 5 * MB, maxPerPost: 4 },
  video: { contentTypes: ['video/mp4'], maxBytes: 50 * MB, maxPerPost: 1 },
} as const;
export const SANDBOX_TEXT_MAX_GRAPHEMES = 500;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

type MediaKind = keyof typeof SANDBOX_MEDIA;
const MEDIA_TYPES: string[] = [...SANDBOX_MEDIA.image.contentTypes, ...SANDBOX_MEDIA.video.contentTypes];

function kindOf(contentType: string): MediaKind | undefined {
  if ((SANDBOX_MEDIA.image.contentTypes as readonly string[]).includes(contentType)) return 'image';
  if ((SANDBOX_MEDIA.video.contentTypes as readonly string[]).includes(contentType)) return 'video';
  return undefined;
}

/** Whether the bytes start the way files of this type do: the sandbox serves them back under that type. */
function bytesAre(contentType: string, bytes: Buffer): boolean {
  const ascii = (start: number, end: number) => bytes.subarray(start, end).toString('latin1');
  switch (contentType) {
    case 'image/png':
      return bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    case 'image/jpeg':
      return bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
    case 'image/gif':
      return ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a';
    case 'image/webp':
      return ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP';
    case 'video/mp4':
      return ascii(4, 8) === 'ftyp';
    default:
      return false;
  }
}

const megabytes = (bytes: number) => `${bytes / MB} MB`;

function graphemes(text: string): number {
  let count = 0;
  for (const _ of new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text)) count++;
  return count;
}

const PostBody = z
  .object({
    text: z.string().optional(),
    media_ids: z.array(z.string().min(1)).optional(),
    reply_to: z.string().min(1).optional(),
    visibility: z.string().optional(),
  })
  .strict();

export function postRoutes(scope: FastifyInstance, opts: { db: Db; mediaStore: MediaStore; publicUrl: string; authenticate: Authenticate }): void {
  const { db, publicUrl, authenticate } = opts;
  const callers = new WeakMap<FastifyRequest, Caller>();
  const postUrl = (post: Pick<SandboxPost, 'id' | 'authorId'>) => `${publicUrl}${SANDBOX_PATH}/@${post.authorId}/posts/${post.id}`;

  // Raw media bodies, each type held to its own limit while it arrives (a too-large body is refused before it is
  // read whole). Fastify enforces no limit of its own on a parser that reads the stream itself.
  scope.addContentTypeParser(MEDIA_TYPES, (req, payload, done) => {
    const contentType = mediaType(req);
    const kind = kindOf(contentType)!;
    const limit = SANDBOX_MEDIA[kind].maxBytes;
    const tooLarge = () => new ApiError(413, 'invalid_request', `${kind === 'image' ? 'Images' : 'Videos'} may be at most ${megabytes(limit)}`);
    if (Number(req.headers['content-length']) > limit) return done(tooLarge());
    readLimited(payload as Readable, limit).then(
      (bytes) => (bytes ? done(null, bytes) : done(tooLarge())),
      (err: Error) => done(err),
    );
  });

  scope.post(
    `${SANDBOX_PATH}/api/media`,
    {
      bodyLimit: SANDBOX_MEDIA.video.maxBytes,
      // Who is uploading is settled before a byte of the body is read.
      preParsing: async (req) => {
        const caller = await authenticate(req);
        requireScope(caller, 'posts.write', 'Uploading media');
        if (!kindOf(mediaType(req))) {
          throw new ApiError(415, 'invalid_request', `Content-Type must be one of ${MEDIA_TYPES.join(', ')}`);
        }
        callers.set(req, caller);
      },
    },
    async (req, reply) => {
      const caller = callers.get(req)!;
      const contentType = mediaType(req);
      const bytes = req.body;
      if (!Buffer.isBuffer(bytes) || bytes.length === 0) throw invalidRequest('The request body must be the file itself');
      if (!bytesAre(contentType, bytes)) throw invalidRequest(`The file is not ${contentType} (its bytes are of another type)`);
      const id = await saveMedia(db, opts.mediaStore, caller.identity.id, contentType, bytes);
      return reply.code(201).send({ id, content_type: contentType, size: bytes.length });
    },
  );

  scope.post(`${SANDBOX_PATH}/api/posts`, async (req, reply) => {
    const caller = await authenticate(req);
    requireScope(caller, 'posts.write', 'Publishing');
    const parsed = PostBody.safeParse(req.body ?? {});
    if (!parsed.success) throw invalidRequest(`The body must be JSON {text, media_ids?, reply_to?}: ${parsed.error.issues[0].path.join('.') || 'body'} ${parsed.error.issues[0].message}`);
    const { text = '', media_ids: mediaIds = [], reply_to: replyTo, visibility } = parsed.data;

    const key = req.headers['idempotency-key'];
    if (Array.isArray(key) || (key !== undefined && !IDEMPOTENCY_KEY.test(key))) {
      throw invalidRequest('Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    // The sandbox's exactly-once means: a request repeated with its key answers the post it made.
    if (key !== undefined) {
      const earlier = await postByKey(db, caller.identity.id, key, { evenDeleted: true });
      if (earlier) return reply.code(200).header('idempotent-replayed', 'true').send({ id: earlier.id, url: postUrl(earlier) });
    }

    const length = graphemes(text);
    if (length > SANDBOX_TEXT_MAX_GRAPHEMES) throw invalidRequest(`The text is ${length} characters long; the limit is ${SANDBOX_TEXT_MAX_GRAPHEMES}`);
    if (text.trim() === '' && mediaIds.length === 0) throw invalidRequest('A post needs text or media');
    await checkMedia(caller, mediaIds);
    const allowed: string[] = visibilitiesOf(caller.kind);
    if (visibility !== undefined && !allowed.includes(visibility)) throw invalidRequest(`visibility: this account may post ${allowed.join(' or ')}, not ${visibility}`);
    if (replyTo !== undefined && !(await visiblePost(db, replyTo))) throw invalidRequest(`reply_to: there is no post ${replyTo}`);

    const { post, created } = await createPost(db, { authorId: caller.identity.id, text, mediaIds, replyToId: replyTo ?? null, idempotencyKey: key ?? null });
    if (!created) reply.header('idempotent-replayed', 'true');
    return reply.code(created ? 201 : 200).send({ id: post.id, url: postUrl(post) });
  });

  async function checkMedia(caller: Caller, ids: string[]): Promise<void> {
    if (new Set(ids).size !== ids.length) throw invalidRequest('media_ids: the same media is listed twice');
    const facts = await mediaFacts(db, ids);
    const kinds = new Set<MediaKind>();
    for (const id of ids) {
      const media = facts.get(id);
      if (!media) throw invalidRequest(`media_ids: there is no media ${id}`);
      if (media.authorId !== caller.identity.id) throw invalidRequest(`media_ids: media ${id} was uploaded by another account`);
      kinds.add(kindOf(media.contentType)!);
    }
    if (kinds.size > 1) throw invalidRequest('media_ids: a post has images or a video, not both');
    const [kind] = kinds;
    if (kind && ids.length > SANDBOX_MEDIA[kind].maxPerPost) {
      throw invalidRequest(kind === 'image' ? `media_ids: at most ${SANDBOX_MEDIA.image.maxPerPost} images per post` : 'media_ids: one video per post');
    }
  }

  scope.get(`${SANDBOX_PATH}/api/posts`, async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
    const caller = await authenticate(req);
    const key = req.query.idempotency_key;
    if (!key) throw invalidRequest('Find your posts by idempotency_key');
    // Only the caller's own: keys are chosen per author.
    const post = await postByKey(db, caller.identity.id, key);
    return { data: post ? [await postView(post)] : [] };
  });

  scope.get(`${SANDBOX_PATH}/api/posts/:id`, async (req: FastifyRequest<{ Params: { id: string } }>) => {
    await authenticate(req);
    const post = await visiblePost(db, req.params.id);
    if (!post) throw notFound(`There is no post ${req.params.id}`);
    return postView(post);
  });

  scope.delete(`${SANDBOX_PATH}/api/posts/:id`, async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const caller = await authenticate(req);
    requireScope(caller, 'posts.write', 'Deleting posts');
    const post = await visiblePost(db, req.params.id);
    if (!post) throw notFound(`There is no post ${req.params.id}`);
    if (post.authorId !== caller.identity.id) throw new ApiError(403, 'access_denied', 'Only its author can delete a post');
    await deletePost(db, post.id);
    return reply.code(204).send();
  });

  async function postView(post: SandboxPost) {
    const facts = await mediaFacts(db, post.mediaIds);
    return {
      id: post.id,
      url: postUrl(post),
      author_id: post.authorId,
      text: post.text,
      media: post.mediaIds.map((id) => ({ id, content_type: facts.get(id)?.contentType ?? null, url: `${publicUrl}${SANDBOX_PATH}/media/${id}` })),
      reply_to: post.replyToId,
      created_at: post.createdAt.toISOString(),
    };
  }
}

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * The whole stream, or `undefined` as soon as it passes `limit` bytes. The rest is left unread, as Fastify's own
 * body limit does: the refusal is answered and the connection closed behind it.
 */
function readLimited(stream: Readable, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      stream.pause();
      resolve(undefined);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
