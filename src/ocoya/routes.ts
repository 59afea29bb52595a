// The Ocoya-compatible surface under `/api/_public/v1`: a client written against Ocoya's public API works by
// changing only its base URL. Contract: ../shared/seeds/ocoya-get-social-connection-url.md and PRODUCT.md.
// Same data as `/v1` (accounts connected here belong to the workspace and show up there too); Ocoya's own
// names, error bodies (`{"message": …}`) and limits (60 requests/min per key).
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { and, asc, eq, ne } from 'drizzle-orm';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { callbackUrl } from '../context.ts';
import { createStartUrl, FLOW_TTL_MS } from '../connect/flows.ts';
import { organizations, socialAccounts } from '../db/schema.ts';
import { requireApiKey } from '../http/auth.ts';
import { refuseUnknownInput } from '../http/strict-input.ts';
import { idempotentPosts } from '../http/idempotency.ts';
import { ApiError, validationIssues } from '../http/errors.ts';
import type { SurfaceDocs } from '../http/openapi.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { isRequestTimeout } from '../http/request-timeout.ts';
import { rateLimit, type RateLimiter, type RateLimitStore } from '../http/rate-limit.ts';
import { appCredentials, networkConfigForFlow } from '../networks/network-configs.ts';
import type { Caller } from '../orgs/api-keys.ts';
import { findWorkspace, listWorkspaces, workspaceUserCount } from '../orgs/workspaces.ts';
import type { NetworkId } from '../providers/types.ts';
import { ocoyaPostRoutes } from './post-routes.ts';

export const OCOYA_PREFIX = '/api/_public/v1';
export const OCOYA_REQUESTS_PER_MINUTE = 60;

/** Ocoya's provider names ↔ ours. `sandbox` is our addition, so the whole flow can be tried offline. */
const OCOYA_PROVIDERS = ['facebook', 'instagram', 'twitter', 'linkedin', 'pinterest', 'tiktok', 'sandbox'] as const;
const toNetwork = (provider: string): NetworkId => (provider === 'twitter' || provider === 'x' ? 'x' : (provider as NetworkId));
const toOcoyaName = (network: string): string => (network === 'x' ? 'twitter' : network);

class OcoyaError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Ocoya's error body: one sentence. */
export const OcoyaErrorBody = z.object({ message: z.string() }).meta({ id: 'OcoyaError', description: "Ocoya's error body: one sentence" });

/** The errors every route of the Ocoya surface can give, for the OpenAPI document (http/openapi.ts). */
export const ocoyaSurfaceDocs: SurfaceDocs = {
  prefix: `${OCOYA_PREFIX}/`,
  errorComponent: 'OcoyaError',
  errorBody: (_status, text) => ({ message: text }),
  common: ({ method, hasParams }) => ({
    400: { description: 'The request is invalid (the message names each field)', example: { message: 'Invalid request. workspaceId: Required' } },
    401: { description: 'No API token', example: { message: 'Missing API token.' } },
    403: { description: 'Not a valid API token', example: { message: 'Invalid API token.' } },
    ...(hasParams ? { 404: { description: 'Not found in this organization', example: { message: 'Not found.' } } } : {}),
    ...(method === 'POST'
      ? { 409: { description: 'The Idempotency-Key was used for a different request, or its first request is still running', example: { message: 'This Idempotency-Key was already used for a different request: use a new key for a new request' } } }
      : {}),
    429: { description: `Over ${OCOYA_REQUESTS_PER_MINUTE} requests per minute for this API token`, example: { message: 'Too many requests.' } },
    503: { description: 'Temporarily unavailable: retry after Retry-After seconds', example: { message: 'Service temporarily unavailable. Try again in a few seconds.' } },
  }),
};

const WorkspaceQuery = z.object({ workspaceId: z.string().min(1).max(64) });
const ProviderField = z.string().min(1).max(32);

export function ocoyaRoutes(ctx: AppContext, limits: RateLimitStore, addressLimiter: RateLimiter) {
  const limiter = limits.limiter('ocoya', OCOYA_REQUESTS_PER_MINUTE);

  async function workspaceOf(caller: Caller, workspaceId: string) {
    const workspace = await findWorkspace(ctx.db, caller.orgId, workspaceId);
    if (!workspace) throw new OcoyaError(404, 'Workspace not found.');
    return workspace;
  }

  /** A one-time start URL for `provider` into `workspaceId`, and what Ocoya's response says about it. */
  async function connection(caller: Caller, workspaceId: string, provider: string) {
    const workspace = await workspaceOf(caller, workspaceId);
    const known = (OCOYA_PROVIDERS as readonly string[]).includes(provider) || provider === 'x';
    const adapter = known ? ctx.adapters.get(toNetwork(provider)) : undefined;
    if (!adapter) {
      throw new OcoyaError(400, `Unsupported provider "${provider}". Supported: ${OCOYA_PROVIDERS.filter((p) => ctx.adapters.get(toNetwork(p))).join(', ')}.`);
    }
    const config = await networkConfigForFlow(ctx.db, caller.orgId, adapter.network);
    if (!config) {
      throw new OcoyaError(400, `Provider "${provider}" is not configured: add your ${adapter.displayName} app with POST /v1/social-networks first.`);
    }
    const { authUrl } = createStartUrl(ctx, caller.orgId, config, { workspaceId: workspace.id, selection: 'hosted' });
    return {
      provider: toOcoyaName(adapter.network),
      authProvider: toOcoyaName(adapter.loginNetwork?.(appCredentials(ctx, config, adapter)) ?? adapter.network),
      authUrl,
      callbackUrl: callbackUrl(ctx.config.publicUrl, adapter.network),
      instructions:
        `Open authUrl in a browser within ${FLOW_TTL_MS / 60_000} minutes, sign in to ${adapter.displayName} and approve access, ` +
        `then choose the profiles to connect. They then appear in GET /social-profiles?workspaceId=${workspace.id}. ` +
        'The link works once; ask for a new one to connect more.',
    };
  }

  return async function routes(app: FastifyInstance) {
    app.setErrorHandler((err: FastifyError, req, reply) => {
      if (err instanceof OcoyaError || err instanceof ApiError) return reply.code(err.statusCode).send({ message: err.message });
      if (hasZodFastifySchemaValidationErrors(err)) {
        const problems = validationIssues(err).map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`);
        return reply.code(400).send({ message: `Invalid request. ${problems.join('; ')}` });
      }
      if (isDatabaseUnavailable(err) || isRequestTimeout(err)) {
        req.log.warn({ err }, isRequestTimeout(err) ? 'request timed out' : 'database unavailable');
        return reply.code(503).header('retry-after', RETRY_AFTER_SECONDS).send({ message: 'Service temporarily unavailable. Try again in a few seconds.' });
      }
      if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ message: err.message });
      req.log.error({ err }, 'request failed');
      return reply.code(500).send({ message: 'Unknown error.' });
    });
    app.setNotFoundHandler((req, reply) => reply.code(404).send({ message: 'Not found.' }));
    refuseUnknownInput(app);
    const limited = () => ({ message: 'Too many requests.' });
    requireApiKey(app, {
      db: ctx.db,
      addressLimiter,
      addressLimit: ctx.config.rateLimitPerAddress,
      missingKey: () => new OcoyaError(401, 'Missing API token.'),
      invalidKey: () => new OcoyaError(403, 'Invalid API token.'),
      limitedBody: limited,
    });
    rateLimit(app, limiter, OCOYA_REQUESTS_PER_MINUTE, limited);
    idempotentPosts(app, {
      db: ctx.db,
      keyring: ctx.keyring,
      invalidKey: (message) => new OcoyaError(400, message),
      conflict: (message) => new OcoyaError(409, message),
    });

    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Ocoya-compatible'];

    r.get(
      '/me',
      { schema: { tags, operationId: 'ocoyaGetMe', summary: 'The organization behind the API key', response: { 200: z.object({ id: z.string(), name: z.string(), email: z.string().nullable() }) } } },
      async (req) => {
        const [org] = await ctx.db.select().from(organizations).where(eq(organizations.id, req.caller.orgId));
        return { id: org.id, name: org.name, email: org.email };
      },
    );

    r.get(
      '/workspaces',
      { schema: { tags, operationId: 'ocoyaListWorkspaces', summary: 'Workspaces', response: { 200: z.array(z.object({ id: z.string(), name: z.string(), userCount: z.number().int() })) } } },
      async (req) => {
        const [rows, userCount] = await Promise.all([listWorkspaces(ctx.db, req.caller.orgId), workspaceUserCount(ctx.db, req.caller.orgId)]);
        return rows.map((w) => ({ id: w.id, name: w.name, userCount }));
      },
    );

    r.get(
      '/social-profiles',
      {
        schema: {
          tags,
          operationId: 'ocoyaListSocialProfiles', summary: 'Connected social profiles of a workspace',
          querystring: WorkspaceQuery.extend({
            page: z.coerce.number().int().min(0).default(0).describe('0-based'),
            perPage: z.coerce.number().int().min(1).default(50).transform((n) => Math.min(n, 50)).describe('At most 50; larger values are clamped'),
          }),
          response: { 200: z.array(z.object({ id: z.string(), provider: z.string(), name: z.string(), image: z.string().nullable() })) },
        },
      },
      async (req) => {
        const workspace = await workspaceOf(req.caller, req.query.workspaceId);
        const rows = await ctx.db
          .select()
          .from(socialAccounts)
          .where(and(eq(socialAccounts.orgId, req.caller.orgId), eq(socialAccounts.workspaceId, workspace.id), ne(socialAccounts.status, 'disconnected')))
          .orderBy(asc(socialAccounts.id))
          .limit(req.query.perPage)
          .offset(req.query.page * req.query.perPage);
        return rows.map((a) => ({
          id: a.id,
          provider: toOcoyaName(a.network),
          name: a.nickname ?? a.username ?? a.networkUniqueId,
          image: a.profilePictureUrl,
        }));
      },
    );

    r.get(
      '/social-profiles/connection-url',
      {
        schema: {
          tags,
          operationId: 'ocoyaGetConnectionUrl', summary: 'Get social connection URL',
          querystring: WorkspaceQuery.extend({ provider: ProviderField.describe(`One of ${OCOYA_PROVIDERS.join(', ')}`) }),
          response: {
            200: z.object({ provider: z.string(), authProvider: z.string(), authUrl: z.string(), callbackUrl: z.string(), instructions: z.string() }),
          },
        },
      },
      async (req) => connection(req.caller, req.query.workspaceId, req.query.provider),
    );

    r.post(
      '/social-profiles/connection-url',
      {
        schema: {
          tags,
          operationId: 'ocoyaCreateConnectionUrl', summary: 'Create a social connection URL',
          querystring: WorkspaceQuery,
          body: z.object({ provider: ProviderField.describe(`One of ${[...OCOYA_PROVIDERS, 'x'].join(', ')}`) }),
          response: { 200: z.object({ url: z.string() }) },
        },
      },
      async (req) => ({ url: (await connection(req.caller, req.query.workspaceId, req.body.provider)).authUrl }),
    );

    await app.register(ocoyaPostRoutes(ctx, workspaceOf));
  };
}

