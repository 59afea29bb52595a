// Unknown body fields and unknown query parameters are refused with a 400 naming them, never ignored
// (PRODUCT.md, "API hygiene"): a misspelt `tenant_id` filter must not list every tenant's accounts, and an
// auth-url body with `tenantId` must not connect an untagged account. One hook makes every route of a surface
// strict, so a route added later cannot forget it.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { z } from 'zod';

const normalise = (key: string) => key.replace(/[_-]/g, '').toLowerCase();

/** The same object schema, refusing keys it does not name; the message suggests a known key spelt differently. */
function strictObject(schema: z.ZodObject, what: string): z.ZodObject {
  const known = Object.keys(schema.shape);
  const error = (issue: z.core.$ZodRawIssue) => {
    if (issue.code !== 'unrecognized_keys') return undefined;
    return issue.keys
      .map((key) => {
        const twin = known.find((k) => normalise(k) === normalise(key));
        return `Unknown ${what} "${key}"${twin ? ` (did you mean "${twin}"?)` : ''}`;
      })
      .join('; ');
  };
  // What `.strict()` does, plus the message: the schema's own checks (refinements) are kept.
  return schema.clone(z.core.util.mergeDefs(schema._zod.def, { catchall: z.never(), error })) as z.ZodObject;
}

/** Makes the object at the top of a route's body or query schema strict, keeping its documentation (examples, description). */
function strict(schema: z.ZodType, what: string): z.ZodType {
  const made = strictTop(schema, what);
  const { id: _id, ...meta } = (z.globalRegistry.get(schema) ?? {}) as Record<string, unknown>;
  return made !== schema && Object.keys(meta).length ? made.meta(meta) : made;
}

/** Through `.default()` and `.optional()`. */
function strictTop(schema: z.ZodType, what: string): z.ZodType {
  if (schema instanceof z.ZodObject) return strictObject(schema, what);
  if (schema instanceof z.ZodDefault) {
    const inner = schema.unwrap();
    if (inner instanceof z.ZodObject) return strictObject(inner, what).default(schema.def.defaultValue as never);
  }
  if (schema instanceof z.ZodOptional) {
    const inner = schema.unwrap();
    if (inner instanceof z.ZodObject) return strictObject(inner, what).optional();
  }
  return schema;
}

/**
 * Adds an `onRoute` hook to this scope: each route's query schema (an empty one where the route declares none)
 * and body schema refuse unknown keys; a POST, PUT or PATCH without a body schema takes no fields at all. A route
 * with `config: { passesInputThrough: true }` is left alone: its query and body belong to another API.
 */
export function refuseUnknownInput(app: FastifyInstance) {
  app.addHook('onRoute', (route: RouteOptions) => {
    // A route that forwards its input elsewhere as it came (the network proxy) declares it; nothing else may.
    if ((route.config as { passesInputThrough?: boolean } | undefined)?.passesInputThrough) return;
    const schema = (route.schema ??= {}) as { querystring?: z.ZodType; body?: z.ZodType };
    schema.querystring = strict(schema.querystring ?? z.object({}), 'query parameter');
    const methods = ([] as string[]).concat(route.method);
    if (schema.body) schema.body = strict(schema.body, 'field');
    else if (methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH')) schema.body = strictObject(z.object({}), 'field').nullish();
  });
}
