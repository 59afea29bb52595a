// How the client is generated from the OpenAPI document (@hey-api/openapi-ts): the native API only (`/v1`), one
// method per operationId on the `Switchboard` class, the fetch client, responses typed as the payload the
// envelope carries (`unwrapEnvelopeSchema`; src/client.ts unwraps the bodies the same way).
// Run by `npm run client:generate` at the repository root (scripts/client-generate.ts), which writes the document.
import { createClient } from '@hey-api/openapi-ts';
import { unwrapEnvelopeSchema } from './src/envelope.ts';

/** Operations left out: the proxy passes any path and body through to the network, which a typed call cannot describe. */
const EXCLUDED = ['GET /v1/social-accounts/{id}/proxy/{*}'];

export async function generateClient(opts: { documentPath: string; outputDir: string }): Promise<void> {
  await createClient({
    input: opts.documentPath,
    output: {
      path: opts.outputDir,
      // Its module settings decide the import specifiers (`./client.gen.js`).
      tsConfigPath: new URL('./tsconfig.json', import.meta.url).pathname,
    },
    parser: {
      // orphans: the schemas only the document's `webhooks` use (the event payloads) are kept, and typed.
      filters: { operations: { include: ['/^[A-Z]+ \\/v1\\//'], exclude: EXCLUDED }, orphans: true },
      patch: {
        operations: (_method, _path, operation) => {
          const responses = (operation.responses ?? {}) as Record<string, { content?: Record<string, { schema?: unknown }> }>;
          for (const [status, response] of Object.entries(responses)) {
            const json = status.startsWith('2') ? response.content?.['application/json'] : undefined;
            if (json?.schema) json.schema = unwrapEnvelopeSchema(json.schema);
          }
        },
      },
    },
    plugins: [
      { name: '@hey-api/client-fetch', throwOnError: true },
      // The API key is sent by the client (src/client.ts), not per operation.
      { name: '@hey-api/sdk', auth: false, responseStyle: 'data', operations: { strategy: 'single', containerName: 'Switchboard' } },
      '@hey-api/typescript',
    ],
    logs: { level: 'silent' },
  });
}
