// The OpenAPI document (/openapi.json, /docs): what @fastify/swagger is given on top of each route's own schema.
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * Route schema → document entry. Only the public surfaces (`publicPrefixes`) are documented: every other route
 * (browser pages, callbacks, the dashboard, the sandbox, public media, health and metrics) is the server's own.
 */
export function openApiTransform(publicPrefixes: string[]) {
  const isPublic = (url: string) => publicPrefixes.some((prefix) => url.startsWith(prefix));
  return (input: TransformInput) => {
    if (!isPublic(input.url)) return { schema: { hide: true }, url: input.url };
    return jsonSchemaTransform(input);
  };
}
