// Forms that carry files (enctype multipart/form-data), read as they arrive: the bytes of a file go straight on to
// whoever takes them (the media store), never whole into memory. The guard in routes.ts checks a form's CSRF token
// before the handler runs, but a multipart body is read only by the handler: a route that takes one declares
// `config: { csrfInMultipart: true }`, and this reader then insists that the token is the form's first field and
// checks it before a single file byte is read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyMultipart, { type MultipartFile } from '@fastify/multipart';
import { safeEqual } from '../../security/secrets.ts';

export type FormFields = Record<string, string | string[]>;

/** The route option that hands the CSRF check of its multipart forms to `readMultipartForm`. */
export const CSRF_IN_MULTIPART = { csrfInMultipart: true } as const;

export const checksOwnCsrf = (req: FastifyRequest): boolean => (req.routeOptions.config as { csrfInMultipart?: boolean } | undefined)?.csrfInMultipart === true;

export class FormTokenRefused extends Error {
  constructor() {
    super('The form did not start with a valid CSRF token');
  }
}

/** A field longer than the parser takes, or more parts than a form of ours has. */
export class FormTooLarge extends Error {}

/** Multipart parsing for one scope. Files are bounded by `maxFileBytes` (a longer one arrives cut: `truncated`). */
export async function acceptMultipart(app: FastifyInstance, limits: { maxFileBytes: number; maxFiles: number }) {
  await app.register(fastifyMultipart, {
    // The size check is ours (the file arrives cut, `file.truncated`), so the rest of the form is still read.
    throwFileSizeLimit: false,
    limits: { fileSize: limits.maxFileBytes, files: limits.maxFiles, fields: 300, fieldSize: 512 * 1024, parts: 300 + limits.maxFiles, fieldNameSize: 100 },
  });
}

function add(fields: FormFields, name: string, value: string) {
  const current = fields[name];
  if (current === undefined) fields[name] = value;
  else if (Array.isArray(current)) current.push(value);
  else fields[name] = [current, value];
}

/**
 * Reads a multipart form: its first part must be `_csrf` with the session's token (else `FormTokenRefused`, before
 * anything else is read). Each file goes to `onFile` with the fields sent before it — a form puts its file input
 * last — and `onFile` must consume or `resume()` the stream. Resolves with every field, as @fastify/formbody gives
 * them (a string, or an array when repeated).
 */
export async function readMultipartForm(
  req: FastifyRequest,
  csrfToken: string,
  onFile: (file: MultipartFile, fieldsSoFar: FormFields) => Promise<void>,
): Promise<FormFields> {
  const fields: FormFields = {};
  let first = true;
  try {
    for await (const part of req.parts()) {
      if (first) {
        first = false;
        if (part.type !== 'field' || part.fieldname !== '_csrf' || typeof part.value !== 'string' || !safeEqual(part.value, csrfToken)) {
          if (part.type === 'file') part.file.resume();
          throw new FormTokenRefused();
        }
        continue;
      }
      if (part.type === 'file') {
        await onFile(part, fields);
        continue;
      }
      if (part.valueTruncated || part.fieldnameTruncated) throw new FormTooLarge(`The field ${part.fieldname} is longer than this form takes`);
      add(fields, part.fieldname, typeof part.value === 'string' ? part.value : String(part.value));
    }
  } catch (err) {
    if (err instanceof FormTokenRefused || err instanceof FormTooLarge) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') throw new FormTooLarge('The form has more fields or files than it takes');
    throw err;
  }
  if (first) throw new FormTokenRefused();
  return fields;
}
