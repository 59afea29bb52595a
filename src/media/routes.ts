// `/v1/media`: upload (a presigned PUT URL, then confirm), import from a URL, list, one, delete. The PUT itself and
// the public URLs are outside `/v1` (public-routes.ts): they carry their own credentials, not an API key.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { ApiError } from '../http/errors.ts';
import { listOf, success } from '../http/schemas.ts';
import { ID_PATTERN } from '../security/ids.ts';
import { confirmMedia, createUpload, deleteMedia, filenameProblem, findMedia, importMediaFromUrl, listMedia, mediaView } from './media.ts';

export const Media = z
  .object({
    id: z.string(),
    filename: z.string(),
    url: z.string().nullable().describe('Public, unguessable URL serving the bytes (Range supported); null until confirmed'),
    content_type: z.string().nullable().describe('Read from the bytes on confirm, never taken from the client'),
    size: z.number().int().nullable(),
    width: z.number().int().optional(),
    height: z.number().int().optional(),
    duration_seconds: z.number().optional(),
    status: z.enum(['pending', 'active', 'deleted']),
    created_at: z.string(),
    expires_at: z.string().describe('60 days after confirm; kept longer while a post that has not gone out uses it'),
  })
  .meta({ id: 'Media' });

const MEDIA_EXAMPLE: z.output<typeof Media> = {
  id: 'med_01jf3k9p0q1r2s3t4u5v',
  filename: 'launch.png',
  url: 'https://api.example.com/media/tok_3kd92/launch.png',
  content_type: 'image/png',
  size: 482133,
  width: 1200,
  height: 630,
  status: 'active',
  created_at: '2026-12-07T15:55:00.000Z',
  expires_at: '2027-02-05T15:55:10.000Z',
};
const NOT_FOUND = 'Media not found';

const Filename = z.string().superRefine((name, check) => {
  const problem = filenameProblem(name);
  if (problem) check.addIssue({ code: 'custom', message: problem });
});

const MediaIdParam = z.object({ id: z.string().regex(ID_PATTERN, 'is not a media id') });


export function mediaRoutes(ctx: AppContext) {
  // A post container's `{url}` media is imported the way `POST /v1/media {url}` imports it.
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Media'];

    r.post(
      '/v1/media/upload',
      {
        schema: {
          tags,
          operationId: 'createMediaUpload', summary: 'Start an upload: PUT the raw bytes to the returned upload_url (no API key; valid for an hour), then confirm',
          description:
            "Reserves a media id and answers a presigned `upload_url`. PUT the file's raw bytes there (no API key, no form encoding; up to SWITCHBOARD_MAX_MEDIA_BYTES; within the hour), then POST /v1/media/{id}/confirm. The upload URL is signed: use it exactly as given.",
          body: z
            .object({
              filename: Filename.describe('1–255 characters, with an extension'),
              content_type: z.string().max(255).optional().describe('Kept for the record; the type is read from the bytes'),
            })
            .meta({ examples: [{ filename: 'launch.png', content_type: 'image/png' }] }),
          response: {
            201: success(z.object({ id: z.string(), upload_url: z.string(), expires_in: z.number().int().describe('Seconds') }), {
              id: MEDIA_EXAMPLE.id,
              upload_url: 'https://api.example.com/media/upload/med_01jf3k9p0q1r2s3t4u5v?expires=1796660100&signature=3kd92jf83kdl',
              expires_in: 3600,
            }),
          },
          errors: { 400: { example: { success: false, error: 'Invalid filename', code: 'bad_request', message: 'The filename needs an extension' } } },
        },
      },
      async (req, reply) => {
        const { row, uploadUrl, expiresIn } = await createUpload(ctx, req.caller.orgId, { filename: req.body.filename, contentType: req.body.content_type });
        return reply.code(201).send({ success: true, data: { id: row.id, upload_url: uploadUrl, expires_in: expiresIn } });
      },
    );

    r.post(
      '/v1/media/:id/confirm',
      {
        schema: {
          tags,
          operationId: 'confirmMediaUpload', summary: 'Confirm an upload: its type, size, dimensions and duration are read from the bytes',
          params: MediaIdParam,
          description:
            'Reads the uploaded bytes: their type (only images and videos the networks take), size, dimensions and duration, and makes the file usable in posts with a public URL. Confirming again answers the same file.',
          body: z
            .object({ size: z.number().int().nonnegative().optional().describe('The size you sent: a mismatch (a cut-short upload) is refused') })
            .nullish()
            .meta({ examples: [{ size: 482133 }] }),
          response: { 200: success(Media, MEDIA_EXAMPLE) },
          errors: {
            400: { description: 'The bytes are not a supported image or video, or their size is not `size`', example: { success: false, error: 'Size mismatch', code: 'media_size_mismatch', message: 'The upload has 1024 bytes, not 482133: it may have been cut short. Upload it again.' } },
            404: NOT_FOUND,
            409: { description: 'Nothing was uploaded yet (`media_not_uploaded`), it was uploaded again meanwhile, or the Idempotency-Key conflicts', example: { success: false, error: 'Nothing uploaded yet', code: 'media_not_uploaded', message: 'PUT the file to the upload_url of POST /v1/media/upload first, then confirm' } },
          },
        },
      },
      async (req) => {
        const row = await confirmMedia(ctx, req.caller.orgId, req.params.id, req.body?.size);
        return { success: true as const, data: mediaView(ctx, row) };
      },
    );

    r.post(
      '/v1/media',
      {
        schema: {
          tags,
          operationId: 'importMedia', summary: 'Import a file from a URL (public addresses only; same size limit as uploads) and confirm it',
          description:
            'Fetches the file from a public URL (private and local addresses are refused, redirects are not followed), then confirms it as an upload would be. The filename defaults to the URL\'s last segment.',
          body: z
            .object({ url: z.string().max(2048), filename: Filename.optional() })
            .meta({ examples: [{ url: 'https://cdn.example.com/launch.png', filename: 'launch.png' }] }),
          response: { 201: success(Media, MEDIA_EXAMPLE) },
          errors: {
            400: { description: 'The URL is refused (not public, not http(s)) or unreachable, or the file is not a supported image or video', example: { success: false, error: 'Media URL refused', code: 'bad_request', message: 'The URL resolves to a private address' } },
            413: { description: 'The file is larger than SWITCHBOARD_MAX_MEDIA_BYTES', example: { success: false, error: 'File too large', code: 'media_too_large', message: 'The most this installation accepts is 536870912 bytes (SWITCHBOARD_MAX_MEDIA_BYTES)' } },
          },
        },
      },
      async (req, reply) => {
        const row = await importMediaFromUrl(ctx, req.caller.orgId, req.body.url, req.body.filename);
        return reply.code(201).send({ success: true, data: mediaView(ctx, row) });
      },
    );

    r.get(
      '/v1/media',
      {
        schema: {
          tags,
          operationId: 'listMedia', summary: 'The organization’s media, newest first',
          querystring: z.object({
            limit: z.coerce.number().int().min(1).max(100).default(50),
            offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
          }),
          description: 'Files of this organization, newest first (deleted ones left out), with `limit` and `offset`.',
          response: { 200: listOf(Media, MEDIA_EXAMPLE) },
        },
      },
      async (req) => {
        const rows = await listMedia(ctx, req.caller.orgId, req.query);
        return { success: true as const, data: rows.map((row) => mediaView(ctx, row)), count: rows.length, limit: req.query.limit, offset: req.query.offset };
      },
    );

    r.get('/v1/media/:id', { schema: { tags, operationId: 'getMedia', summary: 'One media file', description: 'The file with its public URL, type, size, dimensions and expiry.', params: MediaIdParam, response: { 200: success(Media, MEDIA_EXAMPLE) }, errors: { 404: NOT_FOUND } } }, async (req) => {
      const row = await findMedia(ctx, req.caller.orgId, req.params.id);
      if (!row) throw new ApiError(404, 'Media not found');
      return { success: true as const, data: mediaView(ctx, row) };
    });

    r.delete(
      '/v1/media/:id',
      {
        schema: {
          tags,
          operationId: 'deleteMedia', summary: 'Delete a file (its bytes leave the store); refused while a scheduled or publishing post uses it',
          description: 'Removes the file and its bytes; its public URL stops working. Refused (409 `media_in_use`) while a scheduled or publishing post uses it: cancel the post, or wait until it is done.',
          params: MediaIdParam,
          response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) }), { id: MEDIA_EXAMPLE.id, deleted: true }) },
          errors: {
            404: NOT_FOUND,
            409: { description: 'A scheduled or publishing post uses the file', example: { success: false, error: 'Media in use', code: 'media_in_use', message: 'Post post_01jf3m7v2c8d9e0f1g2h is scheduled or publishing with this file; cancel it or wait until it is done' } },
          },
        },
      },
      async (req) => {
        await deleteMedia(ctx, req.caller.orgId, req.params.id);
        return { success: true as const, data: { id: req.params.id, deleted: true as const } };
      },
    );
  };
}
