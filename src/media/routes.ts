// `/v1/media`: upload (a presigned PUT URL, then confirm), import from a URL, list, one, delete. The PUT itself and
// the public URLs are outside `/v1` (public-routes.ts): they carry their own credentials, not an API key.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { ApiError } from '../http/errors.ts';
import { errorResponses, listOf, success } from '../http/schemas.ts';
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

const Filename = z.string().superRefine((name, check) => {
  const problem = filenameProblem(name);
  if (problem) check.addIssue({ code: 'custom', message: problem });
});

const MediaIdParam = z.object({ id: z.string().regex(ID_PATTERN, 'is not a media id') });

const with413 = { ...errorResponses, 413: errorResponses[400] };

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
          body: z.object({
            filename: Filename.describe('1–255 characters, with an extension'),
            content_type: z.string().max(255).optional().describe('Kept for the record; the type is read from the bytes'),
          }),
          response: { 201: success(z.object({ id: z.string(), upload_url: z.string(), expires_in: z.number().int() })), ...errorResponses },
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
          body: z.object({ size: z.number().int().nonnegative().optional().describe('The size you sent: a mismatch (a cut-short upload) is refused') }).nullish(),
          response: { 200: success(Media), ...errorResponses },
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
          body: z.object({ url: z.string().max(2048), filename: Filename.optional() }),
          response: { 201: success(Media), ...with413 },
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
          response: { 200: listOf(Media), ...errorResponses },
        },
      },
      async (req) => {
        const rows = await listMedia(ctx, req.caller.orgId, req.query);
        return { success: true as const, data: rows.map((row) => mediaView(ctx, row)), count: rows.length, limit: req.query.limit, offset: req.query.offset };
      },
    );

    r.get('/v1/media/:id', { schema: { tags, operationId: 'getMedia', summary: 'One media file', params: MediaIdParam, response: { 200: success(Media), ...errorResponses } } }, async (req) => {
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
          params: MediaIdParam,
          response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) })), ...errorResponses },
        },
      },
      async (req) => {
        await deleteMedia(ctx, req.caller.orgId, req.params.id);
        return { success: true as const, data: { id: req.params.id, deleted: true as const } };
      },
    );
  };
}
