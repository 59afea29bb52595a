// GET /sdk/connect.js: the browser script behind `Switchboard.connect(authUrl)` (its source is
// clients/typescript/src/connect.ts), loaded by organizations' pages on their own origins with <script src>.
//
// It is compiled by esbuild on the first request and kept for the life of the process: only installations whose
// users load it pay for esbuild, once. The same bytes for everyone, so it is public and cacheable; revalidated
// by its ETag, as its URL carries no version.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { sha256 } from '../security/secrets.ts';

const SOURCE = join('clients', 'typescript', 'src', 'connect.ts');

/** The package's root: the folder above this module (src/connect/, or dist/ once bundled) that holds the source. */
function sourcePath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, SOURCE))) return join(dir, SOURCE);
  }
  throw new Error(`${SOURCE} was not found above ${fileURLToPath(import.meta.url)}`);
}

interface CompiledScript {
  body: string;
  etag: string;
}

let compiled: Promise<CompiledScript> | undefined;

async function compile(): Promise<CompiledScript> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [sourcePath()],
    bundle: true,
    write: false,
    // `var Switchboard = …` at the top of a classic script: `window.Switchboard.connect`.
    format: 'iife',
    globalName: 'Switchboard',
    target: 'es2017',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const body = out.outputFiles[0].text;
  return { body, etag: `"${sha256(body).slice(0, 27)}"` };
}

/** The compiled script, compiled once (a failed compile is tried again on the next request). */
export function connectScript(): Promise<CompiledScript> {
  compiled ??= compile().catch((err: unknown) => {
    compiled = undefined;
    throw err;
  });
  return compiled;
}

export function sdkRoutes() {
  return async function routes(app: FastifyInstance) {
    app.get('/sdk/connect.js', { schema: { hide: true } }, async (req, reply) => {
      const script = await connectScript();
      reply
        .header('content-type', 'text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .header('etag', script.etag)
        // Loadable from any origin, with `crossorigin` and Subresource Integrity too, and under COEP; nothing
        // in it or in the request is credentialed.
        .header('access-control-allow-origin', '*')
        .header('cross-origin-resource-policy', 'cross-origin')
        .header('x-content-type-options', 'nosniff');
      const match = req.headers['if-none-match'];
      if (match && match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === script.etag)) return reply.code(304).send();
      return reply.send(script.body);
    });
  };
}
