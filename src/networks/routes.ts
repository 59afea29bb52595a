// `/v1/social-networks`: the organization's own OAuth app per network.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { formatIssues, invalidPayload, notFound } from '../http/errors.ts';
import { errorResponses, IdParam, listOf, success } from '../http/schemas.ts';
import { urlProblem } from '../security/private-urls.ts';
import { deleteNetworkConfig, findNetworkConfig, listNetworkConfigs, saveNetworkConfig, toView } from './network-configs.ts';

const NetworkConfig = z
  .object({
    id: z.string(),
    network: z.string(),
    client_key: z.string(),
    scopes: z.array(z.string()),
    options: z.record(z.string(), z.unknown()),
    redirect_uris: z.array(z.string()),
    callback_url: z.string().describe('Register this exact URL as the OAuth redirect URL of your app at the network.'),
    has_client_secret: z.boolean(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .meta({ id: 'SocialNetworkConfig' });

const SaveBody = z.object({
  network: z.string().min(1).describe('facebook, instagram, x (twitter), linkedin, pinterest, tiktok, threads, youtube, google_business, bluesky, sandbox'),
  client_key: z.string().min(1).max(1024).optional().describe("Your app's client id at the network (TikTok: client key)."),
  client_secret: z.string().min(1).max(4096).optional().describe('Stored encrypted; never returned.'),
  scopes: z.array(z.string().min(1).max(200)).max(100).optional().describe("Overrides the network's default scopes."),
  options: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Network-specific settings, e.g. {"login":"instagram"} to connect Instagram through Instagram Login instead of Facebook Login.'),
  redirect_uris: z
    .array(z.string().max(2048))
    .max(50)
    .optional()
    .describe('Exact allowlist for the `redirect_uri` of auth-url requests.'),
});

export function networkConfigRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/social-networks',
      {
        schema: {
          tags: ['Social networks'],
          operationId: 'configureSocialNetwork', summary: "Configure your app for a network (replaces any existing one)",
          body: SaveBody,
          response: { 200: success(NetworkConfig), 201: success(NetworkConfig), ...errorResponses },
        },
      },
      async (req, reply) => {
        const body = req.body;
        const adapter = ctx.adapters.resolve(body.network);
        const issues: z.core.$ZodIssue[] = [];
        const issue = (path: (string | number)[], message: string) =>
          issues.push({ code: 'custom', path, message, input: undefined } as z.core.$ZodIssue);
        if (!adapter) issue(['network'], `Unsupported network "${body.network}". Supported: ${ctx.adapters.supported().join(', ')}`);
        if (adapter && !adapter.builtInApp && adapter.connection !== 'app_password') {
          if (!body.client_key) issue(['client_key'], 'Required');
          if (!body.client_secret) issue(['client_secret'], 'Required');
        }
        let options: Record<string, unknown> | undefined;
        if (adapter && body.options !== undefined) {
          if (!adapter.optionsSchema) issue(['options'], `${adapter.displayName} takes no options`);
          else {
            const parsed = adapter.optionsSchema.safeParse(body.options);
            if (parsed.success) options = parsed.data;
            else for (const i of parsed.error.issues) issue(['options', ...(i.path as (string | number)[])], i.message);
          }
        }
        body.redirect_uris?.forEach((uri, i) => {
          const problem = urlProblem(uri, ctx.config.allowPrivateUrls);
          if (problem) issue(['redirect_uris', i], `redirect URI ${problem}`);
        });
        if (issues.length || !adapter) return invalidPayload(reply, formatIssues(issues));
        const { row, created } = await saveNetworkConfig(ctx, req.caller.orgId, adapter, {
          clientKey: body.client_key,
          clientSecret: body.client_secret,
          scopes: body.scopes,
          redirectUris: body.redirect_uris ? [...new Set(body.redirect_uris)] : undefined,
          options,
        });
        return reply.code(created ? 201 : 200).send({ success: true, data: toView(ctx, row) });
      },
    );

    r.get(
      '/v1/social-networks',
      { schema: { tags: ['Social networks'], operationId: 'listSocialNetworks', summary: 'List configured networks', response: { 200: listOf(NetworkConfig), ...errorResponses } } },
      async (req) => {
        const rows = await listNetworkConfigs(ctx.db, req.caller.orgId);
        return { success: true as const, data: rows.map((row) => toView(ctx, row)), count: rows.length, limit: rows.length, offset: 0 };
      },
    );

    r.get(
      '/v1/social-networks/:id',
      {
        schema: { tags: ['Social networks'], operationId: 'getSocialNetwork', summary: 'One configured network (by id or network name)', params: IdParam, response: { 200: success(NetworkConfig), ...errorResponses } },
      },
      async (req) => {
        const row = await findNetworkConfig(ctx.db, req.caller.orgId, req.params.id);
        if (!row) throw notFound('Social network configuration');
        return { success: true as const, data: toView(ctx, row) };
      },
    );

    r.delete(
      '/v1/social-networks/:id',
      {
        schema: {
          tags: ['Social networks'],
          operationId: 'deleteSocialNetwork', summary: "Remove a network's app; its accounts are marked disconnected",
          params: IdParam,
          response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) })), ...errorResponses },
        },
      },
      async (req) => {
        const row = await findNetworkConfig(ctx.db, req.caller.orgId, req.params.id);
        if (!row) throw notFound('Social network configuration');
        await deleteNetworkConfig(ctx, req.caller.orgId, row);
        return { success: true as const, data: { id: row.id, deleted: true as const } };
      },
    );
  };
}
