// Media routes outside `/v1`, each carrying its own credential instead of an API key:
// - `PUT /media/upload/{id}?expires=…&signature=…`: the presigned upload URL (urls.ts). The body is never parsed or
//   buffered: it is handed to the store as a stream, and the size limit is applied as the bytes pass.
// - `GET|HEAD /media/{token}/{filename}`: the public URL networks fetch (Instagram, Threads, Pinterest, Google
//   Business, TikTok's pull mode). Single byte ranges (206, 416), the type read from the bytes, `nosniff`, a
//   sandboxing CSP and an ASCII-only attachment name, so nothing served here can act as a page of our origin.
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { media } from '../db/schema.ts';
import { ApiError } from '../http/errors.ts';
import { openMedia, receiveUpload, servedFilename } from './media.ts';
import { MediaMissing } from './store.ts';
import { checkUploadSignature, mediaIdFromToken } from './urls.ts';

/** The request body as a stream of its own: a store that stops reading (limit reached) leaves the socket usable for the answer. */
function requestBody(raw: IncomingMessage): Readable {
  const body = new PassThrough();
  const brokenOff = () => body.destroy(new Error('The upload was broken off before it was complete'));
  raw.on('aborted', brokenOff);
  raw.on('error', (err) => body.destroy(err));
  raw.on('close', () => {
    if (!raw.complete) brokenOff();
  });
  body.on('close', () => raw.unpipe(body));
  raw.pipe(body);
  return body;
}

type ByteRange = { start: number; end: number };

/**
 * One byte range of a `Range` header (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`. Anything else
 * (several ranges, another unit, a malformed value) is ignored and the whole file sent, as the RFC allows.
 */
function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

const UPLOAD_IDLE_MS = 60_000;

export function publicMediaRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    // Uploads are raw bytes of any type: no parser runs, the route reads `req.raw` itself (and bodyLimit, which
    // only Fastify's own parsers apply, does not cut it at 256 KiB).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

    r.put(
      '/media/upload/:id',
      {
        schema: {
          tags: ['Media'],
          summary: 'The presigned upload URL: PUT the raw bytes (no API key)',
          security: [],
          params: z.object({ id: z.string().max(64) }),
          querystring: z.object({ expires: z.string().max(20).optional(), signature: z.string().max(128).optional() }),
        },
        // A 1 GiB file takes longer than any other request may: bounded by silence instead (below), and by its size.
        config: { longUpload: true } as object,
      },
      async (req, reply) => {
        const verdict = checkUploadSignature(ctx, req.params.id, req.query.expires ?? '', req.query.signature ?? '');
        // The body is not wanted after an early answer: closing the connection stops the sender.
        reply.header('connection', 'close');
        if (verdict === 'forged') {
          throw new ApiError(403, 'Invalid upload URL', 'Its signature does not match: use the upload_url exactly as POST /v1/media/upload returned it', 'invalid_upload_signature');
        }
        if (verdict === 'expired') {
          throw new ApiError(403, 'Upload URL expired', 'Upload URLs are valid for an hour: ask POST /v1/media/upload for a new one', 'upload_url_expired');
        }
        // A sender that goes quiet this long is gone: the connection is closed and nothing is kept.
        req.raw.socket.setTimeout(UPLOAD_IDLE_MS, () => req.raw.socket.destroy());
        const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
        const result = await receiveUpload(ctx, req.params.id, requestBody(req.raw), length);
        reply.removeHeader('connection');
        return { success: true, data: result };
      },
    );

    r.route({
      method: ['GET', 'HEAD'],
      url: '/media/:token/:filename',
      schema: { hide: true, params: z.object({ token: z.string().max(200), filename: z.string().max(300) }) },
      handler: async (req, reply) => {
        const id = mediaIdFromToken(ctx, req.params.token);
        const [row] = id ? await ctx.db.select().from(media).where(eq(media.id, id)) : [];
        if (!row || row.status !== 'active' || row.size === null || !row.contentType) throw new ApiError(404, 'Not found');
        const size = row.size;
        const etag = `"${row.id}"`;
        const ifRange = req.headers['if-range'];
        const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : undefined;
        if (range === 'unsatisfiable') {
          return reply
            .code(416)
            .header('content-range', `bytes */${size}`)
            .send({ success: false, error: 'Range not satisfiable', code: 'range_not_satisfiable', message: `The file has ${size} bytes` });
        }
        const notModified = req.headers['if-none-match'] === etag;
        let body: Readable | undefined;
        if (req.method === 'GET' && !notModified && size > 0) {
          try {
            body = await openMedia(ctx, row, range);
          } catch (err) {
            if (!(err instanceof MediaMissing)) throw err;
            ctx.log.error({ mediaId: row.id }, 'active media has no bytes in the store');
            throw new ApiError(404, 'Not found');
          }
        }
        reply
          .header('content-type', row.contentType)
          .header('accept-ranges', 'bytes')
          .header('etag', etag)
          .header('last-modified', (row.confirmedAt ?? row.createdAt).toUTCString())
          // The bytes behind a URL never change; an hour bounds how long a shared cache serves a deleted file.
          .header('cache-control', 'public, max-age=3600')
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('cross-origin-resource-policy', 'cross-origin')
          .header('content-disposition', `inline; filename="${servedFilename(row)}"`);
        if (notModified) return reply.code(304).send();
        if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
        reply.header('content-length', range ? range.end - range.start + 1 : size);
        return reply.send(body);
      },
    });
  };
}
