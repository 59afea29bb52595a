// The built-in `sandbox` network: a real OAuth 2.0 authorization server (oidc-provider) under `/sandbox`, with its
// consent screen and a small Graph-style API. Switchboard reaches it over HTTP like any other network.
//
//   GET  /sandbox/auth                      authorization endpoint (code + PKCE S256)
//   POST /sandbox/token                     token endpoint (client_secret_basic)
//   POST /sandbox/token/revocation          revocation (a refresh token revokes its whole grant)
//   GET  /sandbox/.well-known/openid-configuration, /sandbox/jwks
//   GET|POST /sandbox/interaction/:uid      the sign-in/consent form
//   GET  /sandbox/api/me, /sandbox/api/pages, /sandbox/avatar/:name.svg
//   POST /sandbox/api/media, POST|GET /sandbox/api/posts, GET|DELETE /sandbox/api/posts/:id   publishing
//   GET  /sandbox/@:username, /sandbox/@:username/posts/:id, /sandbox/media/:id                 the timeline
import type { IncomingMessage } from 'node:http';
import type { MediaStore } from '../media/store.ts';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/database.ts';
import { faultHook, holdBack, type SandboxFaults } from './faults.ts';
import { interactionRoutes } from './interaction-routes.ts';
import { PageTokens } from './page-tokens.ts';
import { createSandboxProvider, lazySandboxProvider, presentAsPublicUrl, SANDBOX_PATH, type SandboxProvider, type SandboxSecrets } from './provider.ts';
import { resourceRoutes } from './resource-routes.ts';
import { timelineRoutes } from './timeline-routes.ts';

export { SandboxFaults, type SandboxFault, type SandboxEndpoint } from './faults.ts';
export type { SandboxSecrets } from './provider.ts';

export interface SandboxServerOptions {
  /** e.g. `http://127.0.0.1:4321`; the issuer is `${publicUrl}/sandbox`. */
  publicUrl: string;
  /** oidc-provider's models go to `sandbox_oidc_models`; posts and media to `sandbox_posts`, `sandbox_media`. */
  db: Db;
  /** Where uploaded media bytes go (the installation's media store, under `sandbox/`). */
  mediaStore: MediaStore;
  /** The one sandbox client. */
  client: { clientId: string; clientSecret: string; redirectUris: string[] };
  /** Cookie keys, page-token key and signing-key seed: the same in every process and across restarts. */
  secrets: SandboxSecrets;
  /** Test hook: failures to answer with instead of the real thing. */
  faults?: SandboxFaults;
}

/** Register with `app.register(sandboxAuthorizationServer, opts)`, without a prefix: routes carry `/sandbox`. */
export async function sandboxAuthorizationServer(app: FastifyInstance, opts: SandboxServerOptions): Promise<void> {
  const publicUrl = opts.publicUrl.replace(/\/+$/, '');
  // Made on the first request that needs it (provider.ts): the routes are registered now, the provider is not.
  const provider = lazySandboxProvider(async () => {
    const made = await createSandboxProvider({ ...opts, publicUrl });
    // oidc-provider answers its own failures ("server_error"); this is the only place they can be seen.
    made.on('server_error', (_ctx: unknown, err: Error) => app.log.error({ err }, 'sandbox authorization server failed'));
    return made;
  });
  const pageTokens = new PageTokens(opts.secrets.pageTokenKey);

  // Not part of Switchboard's API: keep these routes out of its OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  if (opts.faults) {
    app.addHook('onRequest', faultHook(opts.faults));
    app.addHook('preHandler', holdBack);
  }

  // Sibling contexts: find-my-way prefers the static and parametric routes below to the provider's wildcard.
  await app.register(async (scope) => mountProvider(scope, provider, publicUrl));
  await app.register(async (scope) => interactionRoutes(scope, provider));
  await app.register(async (scope) => resourceRoutes(scope, { provider, publicUrl, pageTokens, db: opts.db, mediaStore: opts.mediaStore }));
  await app.register(async (scope) => timelineRoutes(scope, { db: opts.db, publicUrl, mediaStore: opts.mediaStore }));
}

/** Hands every other `/sandbox/*` request to oidc-provider's Koa app, untouched. */
function mountProvider(scope: FastifyInstance, provider: SandboxProvider, publicUrl: string): void {
  // oidc-provider reads request bodies itself: Fastify must leave the stream unread.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

  let handler: Promise<ReturnType<Awaited<ReturnType<SandboxProvider>>['callback']>> | undefined;
  scope.all(`${SANDBOX_PATH}/*`, async (req, reply) => {
    const handle = await (handler ??= provider().then((p) => p.callback()));
    reply.hijack();
    const raw = req.raw as IncomingMessage & { originalUrl?: string };
    // Mounted like `app.use('/sandbox', …)`: the provider routes on the rest of the path and finds its mount
    // point from `originalUrl`.
    raw.originalUrl = req.url;
    raw.url = req.url.slice(SANDBOX_PATH.length) || '/';
    presentAsPublicUrl(raw, publicUrl);
    await handle(raw, reply.raw);
  });
}
