// The OpenAPI document (/openapi.json, /docs): what @fastify/swagger is given on top of each route's own schema.
//
// A route's schema holds its own documentation (operationId, summary, description, tags, the Zod schemas with
// their examples, and the errors only it gives: `errors`). The errors every route of a surface can give — from the
// plumbing in front of it: validation, API key, rate limit, Idempotency-Key, an outage — are added here, in the
// surface's own error shape, so no route has to repeat them.
//
// Response schemas are documentation first: a schema made with `documentedOnly` is never run in production (the
// reply is JSON.stringify'd), and `checkResponsesAgainstDocument` — on in the test suite — holds every response of
// a public route to the document instead (status documented, body valid against its schema).
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, FastifySerializerCompiler } from 'fastify';
import { jsonSchemaTransform, serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { createRequire } from 'node:module';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import type { z } from 'zod';

/** An error a route gives beyond its surface's common ones: a sentence (`error`/`message`), or the whole example. */
export type ErrorDoc = string | { description?: string; example: Record<string, unknown> };
export type ErrorDocs = Partial<Record<400 | 401 | 403 | 404 | 409 | 413 | 422 | 429 | 502 | 503, ErrorDoc>>;

declare module 'fastify' {
  interface FastifySchema {
    /** The errors this route gives besides its surface's common ones (documentation; see http/openapi.ts). */
    errors?: ErrorDocs;
  }
}

/** What a surface documents for every one of its routes. */
export interface SurfaceDocs {
  prefix: string;
  /** The component (components.schemas) every error body of the surface matches. */
  errorComponent: string;
  /** The example body for an error with the sentence `text` (and the status's stable code where the shape has one). */
  errorBody(status: number, text: string): Record<string, unknown>;
  /** The errors of the plumbing in front of a route, by status: description and example body. */
  common(route: { method: string; hasParams: boolean; hasInput: boolean }): Partial<Record<number, { description: string; example: unknown }>>;
}

const DEFAULT_DESCRIPTION: Record<number, string> = {
  400: 'The request is invalid',
  401: 'No API key, or not a valid one',
  403: 'The API key may not do this',
  404: 'Not found in this organization',
  409: 'Conflicts with the current state',
  413: 'Too large',
  422: 'Refused by the network',
  429: 'Too many requests: wait for the limit window (see Retry-After)',
  502: 'The network did not answer as expected',
  503: 'Temporarily unavailable (the database or a slow request): retry after Retry-After seconds',
};

const SUCCESS_DESCRIPTION: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];
type Transformed = { schema: Record<string, any>; url: string };


/**
 * Route schema → document entry. Only the public surfaces are documented: every other route (browser pages,
 * callbacks, the dashboard, the sandbox, public media, health and metrics) is the server's own.
 */
export function openApiTransform(surfaces: SurfaceDocs[]) {
  return (input: TransformInput): Transformed => {
    const surface = surfaces.find((s) => input.url.startsWith(s.prefix));
    if (!surface || !input.schema || (input.schema as FastifySchema).hide) return { schema: { hide: true }, url: input.url };
    const { errors, ...schema } = input.schema as FastifySchema;
    const out = jsonSchemaTransform({ ...input, schema } as TransformInput) as Transformed;
    const method = String(input.route.method).toUpperCase();
    const hasParams = /[:*]/.test(input.url);
    const response: Record<string, any> = { ...out.schema.response };
    const errorRef = { $ref: `#/components/schemas/${surface.errorComponent}` };
    const asResponse = (description: string, example: unknown) => ({
      description,
      content: { 'application/json': { schema: errorRef, example } },
    });
    const common = surface.common({ method, hasParams, hasInput: true });
    for (const [status, doc] of Object.entries(common)) if (doc) response[status] = asResponse(doc.description, doc.example);
    for (const [status, doc] of Object.entries(errors ?? {}) as [string, ErrorDoc][]) {
      const code = Number(status);
      const description = typeof doc === 'string' ? doc : (doc.description ?? DEFAULT_DESCRIPTION[code] ?? 'Error');
      const example = typeof doc === 'string' ? surface.errorBody(code, doc) : doc.example;
      response[status] = asResponse(description, example);
    }
    // Success responses: described by their Zod schema's `.describe()` (else by their status), with the example
    // their `.meta({ examples })` gives.
    for (const [status, value] of Object.entries(response)) {
      if (!value || value.content) continue;
      const { examples, description, ...jsonSchema } = value;
      const media: Record<string, unknown> = { schema: jsonSchema };
      if (Array.isArray(examples) && examples.length) media.example = examples[0];
      response[status] = { description: description ?? SUCCESS_DESCRIPTION[Number(status)] ?? 'OK', content: { 'application/json': media } };
    }
    out.schema.response = response;
    // A POST without a body schema takes no fields (strict-input.ts): nothing to document.
    if (out.schema.body && !/"properties":\{"|"additionalProperties":\{/.test(JSON.stringify(out.schema.body))) delete out.schema.body;
    if (method === 'POST') {
      out.schema.headers = {
        type: 'object',
        properties: {
          ...(out.schema.headers?.properties ?? {}),
          'idempotency-key': {
            type: 'string',
            maxLength: 255,
            description:
              'Optional. The same key with the same request within 24 hours answers the first response again instead of repeating the action; with a different request → 409.',
          },
        },
      };
    }
    return out;
  };
}

const documentationOnly = new WeakSet<object>();

/**
 * A response schema for the document only: never run in production (the reply goes out as JSON.stringify makes it,
 * or as written — the account list), so documenting a hot route costs nothing. The test suite holds such
 * responses to their schema (`checkResponsesAgainstDocument`).
 */
export function documentedOnly<T extends z.ZodType>(schema: T): T {
  documentationOnly.add(schema);
  return schema;
}

/** The Zod serializer, except for `documentedOnly` schemas. */
export const serializerCompiler: FastifySerializerCompiler<any> = (routeSchema) =>
  documentationOnly.has(routeSchema.schema) ? JSON.stringify : zodSerializerCompiler(routeSchema);

export const UNDOCUMENTED_RESPONSE = 'response does not match the OpenAPI document';

/** Statuses answered by Fastify or the hygiene checks before a route runs; not every route documents them. */
const FRAMEWORK_STATUSES = new Set([405, 413, 414, 415, 431, 500]);

/** `/v1/posts/:id` → `/v1/posts/{id}`, as @fastify/swagger names paths. */
const documentPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*/g, '{*}');
const pointer = (...parts: string[]) => '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/**
 * Test mode: every JSON response of a documented operation must have a documented status and a body valid against
 * that status's schema in /openapi.json. A mismatch is logged (UNDOCUMENTED_RESPONSE) and answered as a 500, so the
 * test that met it fails.
 */
export function checkResponsesAgainstDocument(app: FastifyInstance) {
  // Loaded only here (tests): ~250 KB of code that production would compile at every start for nothing.
  const { Ajv2020: Ajv } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  let ajv: Ajv2020 | undefined;
  let doc: any;
  const validators = new Map<string, ValidateFunction | null>();
  const validatorFor = (path: string, method: string, status: number): ValidateFunction | null | 'undocumented' | 'unknown' => {
    if (!ajv) {
      doc = app.swagger();
      ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false });
      ajv.addSchema(doc, 'openapi');
    }
    const op = doc.paths[path]?.[method];
    if (!op) return 'unknown';
    const code = op.responses[String(status)] ? String(status) : 'default';
    const documented = op.responses[code];
    if (!documented) return 'undocumented';
    const key = `${method} ${path} ${code}`;
    if (!validators.has(key)) {
      const schema = documented.content?.['application/json']?.schema;
      validators.set(key, schema ? ajv.compile({ $ref: 'openapi' + pointer('paths', path, method, 'responses', code, 'content', 'application/json', 'schema') }) : null);
    }
    return validators.get(key)!;
  };

  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const url = req.routeOptions.url;
    if (!url || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return payload;
    // The proxy answers the network's own status and body, whatever they are (documented as such).
    if (reply.getHeader('x-switchboard-proxied')) return payload;
    const status = reply.statusCode;
    const found = validatorFor(documentPath(url), req.method.toLowerCase(), status);
    if (found === 'unknown' || (found === 'undocumented' && FRAMEWORK_STATUSES.has(status))) return payload;
    let problem: string | undefined;
    if (found === 'undocumented') problem = `status ${status} is not documented`;
    else if (found) {
      const type = String(reply.getHeader('content-type') ?? '');
      let body: unknown;
      try {
        body = type.includes('json') ? JSON.parse(String(payload)) : undefined;
      } catch {
        problem = 'the body is not JSON';
      }
      if (!problem && body === undefined) problem = `the body is ${type || 'untyped'}, not JSON`;
      if (!problem && !found(body)) problem = JSON.stringify(found.errors);
    }
    if (!problem) return payload;
    req.log.error({ route: url, method: req.method, status, problem }, UNDOCUMENTED_RESPONSE);
    reply.code(500).type('application/json; charset=utf-8');
    return JSON.stringify({ success: false, error: UNDOCUMENTED_RESPONSE, code: 'undocumented_response', message: `${req.method} ${url} → ${status}: ${problem}` });
  });
}
