// Builds the HTTP server: the native API under /v1, the browser-facing flow, the sandbox network, docs.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { AppContext } from '../context.ts';
import { accountRoutes } from '../accounts/routes.ts';
import { blueskyRoutes } from '../accounts/bluesky-routes.ts';
import { connectApiRoutes } from '../connect/api-routes.ts';
import { browserRoutes } from '../connect/browser-routes.ts';
import { dashboardRoutes } from '../web/dashboard/routes.ts';
import { networkConfigRoutes } from '../networks/routes.ts';
import { organizationRoutes } from '../orgs/routes.ts';
import { brandingRoutes } from '../orgs/branding-routes.ts';
import { sandboxAuthorizationServer, type SandboxFaults } from '../sandbox/authorization-server.ts';
import { webhookRoutes } from '../webhooks/routes.ts';
import { ocoyaRoutes, OCOYA_PREFIX } from '../ocoya/routes.ts';
import { workspaceRoutes } from '../orgs/workspace-routes.ts';
import { requireApiKey } from './auth.ts';
import { localAdminRoutes } from './local-admin-routes.ts';
import { rateLimit, type RateLimitStore } from './rate-limit.ts';
import { useNativeErrors } from './errors.ts';

export interface BuildOptions {
  /** Sandbox storage: on PostgreSQL a separate pool, so a refresh holding a row lock never starves it. */
  sandboxDb: AppContext['db'];
  localAdminToken?: string;
  rateLimits: RateLimitStore;
  /** Tests: make the sandbox network fail on demand, as real networks do. */
  sandboxFaults?: SandboxFaults;
}

export async function buildApp(ctx: AppContext, opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    bodyLimit: 256 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
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
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ success: false, error: 'Not found', code: 'not_found' }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/health', { schema: { hide: true } }, async (req, reply) => {
    try {
      await ctx.database.ping();
      return { status: 'ok' };
    } catch (err) {
      req.log.warn({ err }, 'health check: database did not answer');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  const v1Limit = ctx.config.rateLimitPerMinute;
  const v1Limiter = opts.rateLimits.limiter('v1', v1Limit);
  await app.register(async (v1) => {
    useNativeErrors(v1);
    rateLimit(v1, v1Limiter, v1Limit, () => ({ success: false, error: 'Too many requests', code: 'rate_limited', message: `The limit is ${v1Limit} requests per minute per API key` }));
    requireApiKey(v1, ctx.db, opts.localAdminToken);
    await v1.register(networkConfigRoutes(ctx));
    await v1.register(connectApiRoutes(ctx));
    await v1.register(accountRoutes(ctx));
    await v1.register(blueskyRoutes(ctx));
    await v1.register(organizationRoutes(ctx));
    await v1.register(brandingRoutes(ctx));
    await v1.register(workspaceRoutes(ctx));
    await v1.register(webhookRoutes(ctx));
    if (opts.localAdminToken) await v1.register(localAdminRoutes(ctx));
  });

  await app.register(ocoyaRoutes(ctx, opts.rateLimits), { prefix: OCOYA_PREFIX });

  await app.register(browserRoutes(ctx));
  await app.register(dashboardRoutes(ctx));

  const sandbox = ctx.adapters.get('sandbox')!.builtInApp!;
  await app.register(sandboxAuthorizationServer, {
    publicUrl: ctx.config.publicUrl,
    db: opts.sandboxDb,
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
