// The server's OpenAPI document, built without a running server: the app is assembled in-process on an
// embedded in-memory database (nothing listens, nothing is written to disk) and asked for `app.swagger()`.
// PUBLIC_URL is fixed so the document's `servers` entry does not depend on the machine that generated it.
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/http/logging.ts';
import { createRateLimitStore } from '../src/http/rate-limit.ts';
import { createContext } from '../src/server.ts';

export const DOCUMENT_PUBLIC_URL = 'http://localhost:3000';

export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const config = loadConfig({
    PUBLIC_URL: DOCUMENT_PUBLIC_URL,
    DATA_DIR: 'memory://',
    // A throwaway key: the document holds no secret, and the in-memory database is gone when this returns.
    SWITCHBOARD_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 7).toString('base64'),
    LOG_LEVEL: 'silent',
  });
  const ctx = await createContext(config, { log: createLogger('silent') });
  const rateLimits = createRateLimitStore({ db: ctx.db });
  try {
    const app = await buildApp(ctx, { sandboxDb: ctx.db, rateLimits });
    try {
      await app.ready();
      return app.swagger() as unknown as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    await rateLimits.close();
    await ctx.database.close();
  }
}
