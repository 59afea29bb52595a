// The API answers in Outstand's envelope: `{"success":true, <payload>}` or `{"success":false, "error", "code",
// "message"?}`. Calls return the payload, by one rule that the generator applies to the response types
// (`unwrapEnvelopeSchema`, at generation time) and this client applies to the bodies (`unwrapEnvelope`, at run time):
//   - `success` is dropped;
//   - when exactly one field is left (`data`, `post`, `connectedAccounts`), the call returns that field's value;
//   - otherwise (a page: `data` + `count`/`limit`/`offset`/`next_cursor`, or `posts` + `pagination`) the rest.

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A successful body's payload. Anything not in the envelope (no `success: true`) is returned as it came. */
export function unwrapEnvelope(body: unknown): unknown {
  if (!isObject(body) || body.success !== true) return body;
  const { success: _success, ...rest } = body;
  const keys = Object.keys(rest);
  return keys.length === 1 ? rest[keys[0]!] : rest;
}

/**
 * The same rule on a 2xx response's JSON schema (an object schema with a `success` property), so the generated
 * types describe what a call returns. Other schemas are left alone.
 */
export function unwrapEnvelopeSchema(schema: unknown): unknown {
  if (!isObject(schema) || !isObject(schema.properties) || !('success' in schema.properties)) return schema;
  const { success: _success, ...properties } = schema.properties;
  const keys = Object.keys(properties);
  if (keys.length === 1) return properties[keys[0]!];
  const required = Array.isArray(schema.required) ? schema.required.filter((name) => name !== 'success') : undefined;
  return { ...schema, properties, ...(required ? { required } : {}) };
}
