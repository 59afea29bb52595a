// Builds the HTTP server: the native API under /v1, the browser-facing flow, the sandbox network, docs.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransformObject, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { AppContext } from './context.ts';
import { lazyRequestLogger } from './http/logging.ts';
import { accountRoutes } from './accounts/routes.ts';
import { blueskyRoutes } from './accounts/bluesky-routes.ts';
import { connectApiRoutes } from './connect/api-routes.ts';
import { browserRoutes } from './connect/browser-routes.ts';
import { sdkRoutes } from './connect/sdk-routes.ts';
import { dashboardRoutes } from './web/dashboard/routes.ts';
import { networkConfigRoutes } from './networks/routes.ts';
import { organizationRoutes } from './orgs/routes.ts';
import { brandingRoutes } from './orgs/branding-routes.ts';
import { sandboxAuthorizationServer, type SandboxFaults } from './sandbox/authorization-server.ts';
import { webhookRoutes } from './webhooks/routes.ts';
import { mediaRoutes } from './media/routes.ts';
import { publicMediaRoutes } from './media/public-routes.ts';
import { postRoutes } from './publishing/routes.ts';
import { proxyRoutes } from './accounts/proxy-routes.ts';
import { networkDataRoutes } from './accounts/network-data-routes.ts';
import { publishingDefaultsRoutes } from './accounts/publishing-defaults-routes.ts';
import { ocoyaRoutes, ocoyaSurfaceDocs, OCOYA_PREFIX } from './ocoya/routes.ts';
import { workspaceRoutes } from './orgs/workspace-routes.ts';
import { mcpRoutes } from './mcp/routes.ts';
import { requireApiKey } from './http/auth.ts';
import { localAdminRoutes } from './http/local-admin-routes.ts';
import { rateLimit, type RateLimitStore } from './http/rate-limit.ts';
import { ApiError, nativeSurfaceDocs, useNativeErrors } from './http/errors.ts';
import { clientErrorHandler, requestId, useRequestHygiene } from './http/hygiene.ts';
import { refuseUnknownInput } from './http/strict-input.ts';
import { idempotentPosts } from './http/idempotency.ts';
import { answerStuckRequests } from './http/request-timeout.ts';
import { observabilityRoutes } from './observability/routes.ts';
import { observeHttpRequests } from './observability/http-metrics.ts';
import { accountEventDocs } from './accounts/events.ts';
import { postEventDocs } from './publishing/events.ts';
import { webhooksDocument, webhookTestEvent } from './webhooks/event-docs.ts';
import { checkResponsesAgainstDocument, openApiTransform, serializerCompiler } from './http/openapi.ts';

export interface BuildOptions {
  /** Sandbox storage: on PostgreSQL a separate pool, so a refresh holding a row lock never starves it. */
  sandboxDb: AppContext['db'];
  localAdminToken?: string;
  rateLimits: RateLimitStore;
  /** Tests: make the sandbox network fail on demand, as real networks do. */
  sandboxFaults?: SandboxFaults;
}

/** The document's groups, one per concern, in reading order. */
const API_TAGS = [
  { name: 'Social networks', description: 'Your own OAuth app per network: client id and secret, scopes, the redirect URIs your app may send people back to.' },
  { name: 'Connect', description: 'Connecting accounts: an authorization URL to send a person to, and the headless selection of profiles when one login gives several.' },
  { name: 'Social accounts', description: 'Connected accounts: list, read, disconnect, a fresh access token, health, metrics, publishing options and defaults, and a proxy to the network API.' },
  { name: 'Media', description: 'Files for posts: upload (presigned PUT, then confirm) or import from a URL.' },
  { name: 'Posts', description: 'Publish now, schedule or draft a post to many accounts at once; edit, cancel, retry, delete at the networks.' },
  { name: 'Webhooks', description: 'Endpoints that receive the events (see Webhooks below), and their delivery log.' },
  { name: 'Workspaces', description: 'Groups of accounts inside an organization (Ocoya\'s workspaces).' },
  { name: 'Branding', description: 'Name, logo, accent colour and support link of the hosted connection pages.' },
  { name: 'API keys', description: "This organization's API keys." },
  { name: 'Organizations', description: 'Organizations of this installation (admin keys only).' },
  { name: 'Ocoya-compatible', description: "Ocoya's public API (`/api/_public/v1`): a client written for Ocoya works by changing its base URL. Ocoya's names and error body (`{\"message\"}`), 60 requests per minute per key." },
];

/**
 * The reference UI's own files. The plugin's code is bundled into dist/ (loaded from node_modules file by file, it
 * and its dependencies were ~50 ms of every start: bench/footprint.ts), so it is told where its files are.
 */
function swaggerUiFiles() {
  const root = path.dirname(createRequire(import.meta.url).resolve('@fastify/swagger-ui'));
  return { baseDir: path.join(root, 'static'), logo: { type: 'image/svg+xml', content: readFileSync(path.join(root, 'static', 'logo.svg')) } };
}

export async function buildApp(ctx: AppContext, opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    genReqId: requestId,
    childLoggerFactory: (logger, bindings, options) => lazyRequestLogger(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger,
    // Ids are validated by each route's schema (a 400 naming the field); the router's own cut-off would make an
    // over-long id a 404.
    routerOptions: { maxParamLength: 2048 },
    clientErrorHandler,
    // A number of hops is accepted at run time (proxy-addr), though Fastify's types only list the other forms.
    trustProxy: ctx.config.trustProxy as boolean | string,
    // Node's own limit would cut a long media upload: the sweep (answerStuckRequests) bounds every other request.
    requestTimeout: 0,
  });
  useRequestHygiene(app);
  // Before any surface registers, so every route's requests are counted (by route pattern) and timed.
  observeHttpRequests(app);
  // A request still unanswered after this gets a 503 through its surface's error handler. The bound is generous:
  // the slowest honest request is a connection callback making a few network calls of upstreamTimeoutMs each.
  answerStuckRequests(app, ctx.config.requestTimeoutMs);
  // Routes outside the surfaces (health, docs, unknown paths) answer errors in the native API's shape.
  useNativeErrors(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard API',
        version: '0.1.0',
        description: 'Connect social accounts with your own OAuth apps. Authenticate with `Authorization: Bearer <key>` or `X-API-Key`.',
      },
      servers: [{ url: ctx.config.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
      tags: API_TAGS,
      webhooks: webhooksDocument([...accountEventDocs, ...postEventDocs, webhookTestEvent]),
    } as never,
    transform: openApiTransform([nativeSurfaceDocs(ctx.config.rateLimitPerMinute), ocoyaSurfaceDocs]),
    transformObject: jsonSchemaTransformObject,
  });
  if (ctx.config.checkResponses) checkResponsesAgainstDocument(app);
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', ...swaggerUiFiles(), uiConfig: { docExpansion: 'list', displayOperationId: true, defaultModelsExpandDepth: 0 } });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ success: false, error: 'Not found', code: 'not_found' }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(observabilityRoutes(ctx));

  const v1Limit = ctx.config.rateLimitPerMinute;
  const v1Limiter = opts.rateLimits.limiter('v1', v1Limit);
  const v1Limited = () => ({ success: false, error: 'Too many requests', code: 'rate_limited', message: `The limit is ${v1Limit} requests per minute per API key` });
  const addressLimiter = opts.rateLimits.limiter('address', ctx.config.rateLimitPerAddress);
  const v1Keys = {
    db: ctx.db,
    addressLimiter,
    addressLimit: ctx.config.rateLimitPerAddress,
    missingKey: () => new ApiError(401, 'Missing API key', 'Send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"', 'missing_api_key'),
    invalidKey: () => new ApiError(401, 'Invalid API key', undefined, 'invalid_api_key'),
    limitedBody: v1Limited,
  };
  await app.register(async (v1) => {
    useNativeErrors(v1);
    refuseUnknownInput(v1);
    requireApiKey(v1, { ...v1Keys, localAdminToken: opts.localAdminToken });
    rateLimit(v1, v1Limiter, v1Limit, v1Limited);
    idempotentPosts(v1, {
      db: ctx.db,
      keyring: ctx.keyring,
      invalidKey: (message) => new ApiError(400, 'Invalid Idempotency-Key', message, 'invalid_idempotency_key'),
      conflict: (message, code) => new ApiError(409, 'Idempotency-Key conflict', message, code),
    });
    await v1.register(networkConfigRoutes(ctx));
    await v1.register(connectApiRoutes(ctx));
    await v1.register(accountRoutes(ctx));
    await v1.register(blueskyRoutes(ctx));
    await v1.register(organizationRoutes(ctx));
    await v1.register(brandingRoutes(ctx));
    await v1.register(workspaceRoutes(ctx));
    await v1.register(webhookRoutes(ctx));
    await v1.register(mediaRoutes(ctx));
    await v1.register(postRoutes(ctx));
    await v1.register(proxyRoutes(ctx));
    await v1.register(networkDataRoutes(ctx));
    await v1.register(publishingDefaultsRoutes(ctx));
    if (opts.localAdminToken) await v1.register(localAdminRoutes(ctx));
  });

  // The MCP server: the same keys, and the same per-key budget, as /v1 (it is another door to the same operations).
  await app.register(async (mcp) => {
    useNativeErrors(mcp);
    requireApiKey(mcp, v1Keys);
    rateLimit(mcp, v1Limiter, v1Limit, v1Limited);
    await mcp.register(mcpRoutes(ctx));
  });

  await app.register(ocoyaRoutes(ctx, opts.rateLimits, addressLimiter), { prefix: OCOYA_PREFIX });

  await app.register(browserRoutes(ctx));
  await app.register(sdkRoutes());
  await app.register(publicMediaRoutes(ctx));
  await app.register(dashboardRoutes(ctx, opts.rateLimits));

  const sandbox = ctx.adapters.get('sandbox')!.builtInApp!;
  await app.register(sandboxAuthorizationServer, {
    publicUrl: ctx.config.publicUrl,
    db: opts.sandboxDb,
    mediaStore: ctx.mediaStore,
    client: { ...sandbox, redirectUris: [`${ctx.config.publicUrl}/oauth/sandbox/callback`] },
    secrets: {
      cookieKeys: [ctx.internalSecrets.sandboxCookieKey],
      pageTokenKey: Buffer.from(ctx.internalSecrets.sandboxPageTokenKey, 'base64url'),
      signingKeySeed: Buffer.from(ctx.internalSecrets.sandboxSigningKeySeed, 'base64url'),
    },
    faults: opts.sandboxFaults,
  });

  return app;
}
