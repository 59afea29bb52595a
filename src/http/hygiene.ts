// Request hygiene shared by every surface (PRODUCT.md, "API hygiene"):
// - every response carries `X-Request-Id` (the id the request's log lines carry too);
// - a NUL byte anywhere in a path, query or body is refused before it reaches PostgreSQL, which cannot store one
//   in text or jsonb (it answered 22021 and the request a 500);
// - an over-long URL is a 414 and an over-long header block a 431, in the native API's error shape.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** An id a client or proxy sent along is kept (for tracing across systems) when it is short and plain. */
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && INCOMING_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Longer URLs get 414. Node refuses a request line and headers past 16 KiB together (431, below). */
export const MAX_URL_LENGTH = 8 * 1024;

// The marker fastify-type-provider-zod puts on each validation issue: an error carrying issues marked with it is
// answered by each surface's error handler exactly like a schema validation failure, in that surface's shape.
const ZOD_VALIDATION_ISSUE = Symbol.for('ZodFastifySchemaValidationError');

/** The path (within params, query or body) of the first string holding a NUL byte, or undefined. */
function nulPath(value: unknown, depth = 0): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? [] : undefined;
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  // Raw bodies (media bytes) are data, not text bound for a column; walking one would visit every byte.
  if (ArrayBuffer.isView(value)) return undefined;
  const isArray = Array.isArray(value);
  // The path is built only on the way back from a find: every request's every value is walked.
  for (const key of Object.keys(value)) {
    if (key.includes('\u0000')) return [key];
    const found = nulPath((value as Record<string, unknown>)[key], depth + 1);
    if (found) return [isArray ? Number(key) : key, ...found];
  }
  return undefined;
}

class NulByteError extends Error {
  readonly statusCode = 400;
  readonly validation: object[];
  constructor(path: (string | number)[]) {
    super('A NUL byte is not allowed in any value');
    this.validation = [
      {
        [ZOD_VALIDATION_ISSUE]: true,
        keyword: 'custom',
        instancePath: `/${path.join('/')}`,
        schemaPath: '#/nul',
        message: 'must not contain a NUL byte',
        params: {},
      },
    ];
  }
}

/** Installs the hygiene hooks on the root instance (before any surface registers its routes). */
export function useRequestHygiene(app: FastifyInstance) {
  // Callback hooks: they never wait, and an async hook costs every request a promise and a microtask.
  app.addHook('onRequest', (req, reply, done) => {
    // On the raw response, so that routes which take over the response themselves (the sandbox) carry it too.
    reply.raw.setHeader('x-request-id', req.id);
    if (req.url.length > MAX_URL_LENGTH) {
      const error = new Error(`The URL is longer than ${MAX_URL_LENGTH} characters`) as Error & { statusCode: number };
      error.statusCode = 414;
      return done(error);
    }
    done();
  });
  app.addHook('preValidation', (req, _reply, done) => {
    const path = nulPath(req.params) ?? nulPath(req.query) ?? nulPath(req.body);
    done(path ? new NulByteError(path) : undefined);
  });
}

const STATUS_TEXT: Record<number, [string, string, string]> = {
  400: ['Bad request', 'bad_request', 'The request could not be read'],
  408: ['Request timeout', 'request_timeout', 'The request took too long to arrive'],
  431: ['Request header fields too large', 'headers_too_large', 'The request line and headers together may be at most 16 KiB'],
};

/**
 * Node answers requests it cannot parse (a header block past its limit, a malformed request) before any route
 * runs; they get the native API's error shape and a request id too.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const [error, code, message] = STATUS_TEXT[status];
  const body = JSON.stringify({ success: false, error, code, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
