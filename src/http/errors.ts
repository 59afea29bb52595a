// Error bodies in the native API's contract shape (PRODUCT.md, "Native API"):
//   validation → 400 {"success":false,"error":"Invalid payload","code":"invalid_payload","details":<zod format tree>}
//   others     → {"success":false,"error":"<sentence>","code":"<stable code>","message"?:"…"}, never a stack trace.
// `code` is stable for clients to branch on; `error` and `message` are for people and may be reworded.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { isRequestTimeout } from './request-timeout.ts';
import type { SurfaceDocs } from './openapi.ts';

// The seed contract reports a missing field as "Required" (`{"network":{"_errors":["Required"]}}`).
z.config({
  customError: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'Required' : undefined),
});

/** The stable `code` of an error body when the thrower names none. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  500: 'internal_error',
  503: 'unavailable',
};
export const codeForStatus = (status: number) => CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    /** A sentence for `error`. */
    readonly error: string,
    /** Optional detail for `message`. */
    readonly detail?: string,
    /** Stable machine-readable code for `code`; by default one per status (codeForStatus). */
    readonly code: string = codeForStatus(statusCode),
  ) {
    super(detail ? `${error}: ${detail}` : error);
  }
}

export const badRequest = (error: string, detail?: string, code?: string) => new ApiError(400, error, detail, code);
export const notFound = (what: string) => new ApiError(404, `${what} not found`);
export const conflict = (error: string, detail?: string, code?: string) => new ApiError(409, error, detail, code);

/** The zod issues behind a Fastify validation error raised by fastify-type-provider-zod. */
export function validationIssues(err: FastifyError): z.core.$ZodIssue[] {
  return (err.validation ?? []).map((v) => ({
    ...(v.params as object),
    code: v.keyword,
    message: v.message ?? 'Invalid input',
    path: v.instancePath
      .split('/')
      .slice(1)
      .filter(Boolean)
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
  })) as z.core.$ZodIssue[];
}

/** The `details` tree of a validation error, in zod's `.format()` shape. */
export function formatIssues(issues: z.core.$ZodIssue[]): unknown {
  return z.formatError(new z.ZodError(issues));
}

export function invalidPayload(reply: FastifyReply, details: unknown) {
  return reply.code(400).send({ success: false, error: 'Invalid payload', code: 'invalid_payload', details });
}

/** Installs the contract's error handler on a scope (the native API; the Ocoya surface has its own). */
export function useNativeErrors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return invalidPayload(reply, formatIssues(validationIssues(err)));
    }
    if (err instanceof ApiError) {
      return reply
        .code(err.statusCode)
        .send({ success: false, error: err.error, code: err.code, ...(err.detail ? { message: err.detail } : {}) });
    }
    // An outage is the client's to wait out, not a bug: 503 with Retry-After (errors raised in hooks, such as the
    // API key lookup, come here too).
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err }, 'database unavailable');
      return reply
        .code(503)
        .header('retry-after', RETRY_AFTER_SECONDS)
        .send({ success: false, error: 'Service unavailable', code: 'database_unavailable', message: DATABASE_UNAVAILABLE_MESSAGE });
    }
    if (isRequestTimeout(err)) {
      req.log.warn({ route: req.routeOptions.url }, 'request timed out');
      return reply
        .code(503)
        .header('retry-after', RETRY_AFTER_SECONDS)
        .send({ success: false, error: 'Service unavailable', code: 'timeout', message: 'The request took too long to answer. Try again.' });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      // Fastify's own 4xx (malformed JSON, body too large, unsupported media type) and the hygiene checks' 414.
      const error = FRAMEWORK_ERRORS[err.statusCode] ?? 'Bad request';
      return reply.code(err.statusCode).send({ success: false, error, code: codeForStatus(err.statusCode), message: err.message });
    }
    req.log.error({ err }, 'request failed');
    // Never the error's own message: it may quote SQL or values.
    return reply.code(500).send({ success: false, error: 'Internal server error', code: 'internal_error', message: 'An unexpected error occurred' });
  });
}

const FRAMEWORK_ERRORS: Record<number, string> = { 413: 'Payload too large', 414: 'URI too long', 415: 'Unsupported media type' };

/** The errors every `/v1` route can give, for the OpenAPI document (http/openapi.ts). */
export const nativeSurfaceDocs = (rateLimitPerMinute: number): SurfaceDocs => {
  const body = (status: number, error: string, message?: string, code = codeForStatus(status)) => ({
    success: false,
    error,
    code,
    ...(message ? { message } : {}),
  });
  return {
    prefix: '/v1/',
    errorComponent: 'Error',
    errorBody: (status, text) => body(status, text),
    common: ({ method, hasParams }) => ({
      400: {
        description: 'The request is invalid: `details` names each field (Zod format tree); unknown fields and query parameters are refused',
        example: { success: false, error: 'Invalid payload', code: 'invalid_payload', details: { _errors: [], name: { _errors: ['Required'] } } },
      },
      401: {
        description: 'No API key (`missing_api_key`), or not a valid one (`invalid_api_key`)',
        example: body(401, 'Missing API key', 'Send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"', 'missing_api_key'),
      },
      ...(hasParams ? { 404: { description: 'Not found in this organization', example: body(404, 'Not found') } } : {}),
      ...(method === 'POST'
        ? {
            409: {
              description: 'The Idempotency-Key was used for a different request (`idempotency_key_reused`) or its first request is still running (`idempotency_key_in_use`)',
              example: body(409, 'Idempotency-Key conflict', 'This Idempotency-Key was already used for a different request: use a new key for a new request', 'idempotency_key_reused'),
            },
          }
        : {}),
      429: {
        description: `Over the API key's limit (${rateLimitPerMinute} requests per minute): wait Retry-After seconds`,
        example: body(429, 'Too many requests', `The limit is ${rateLimitPerMinute} requests per minute per API key`, 'rate_limited'),
      },
      503: {
        description: 'The database cannot be reached (`database_unavailable`) or the request took too long (`timeout`): retry after Retry-After seconds',
        example: body(503, 'Service unavailable', DATABASE_UNAVAILABLE_MESSAGE, 'database_unavailable'),
      },
    }),
  };
};
