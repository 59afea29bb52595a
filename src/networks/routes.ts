// `/v1/social-networks`: the organization's own OAuth app per network.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { formatIssues, invalidPayload, notFound } from '../http/errors.ts';
import { IdParam, listOf, success } from '../http/schemas.ts';
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

const NETWORK_CONFIG_EXAMPLE: z.output<typeof NetworkConfig> = {
  id: 'net_01jf3h2k4m6n8p0q2r4s',
  network: 'linkedin',
  client_key: '86abc1def2gh3i',
  scopes: ['openid', 'profile', 'w_member_social'],
  options: {},
  redirect_uris: ['https://app.example.com/connected'],
  callback_url: 'https://api.example.com/oauth/linkedin/callback',
  has_client_secret: true,
  created_at: '2026-12-07T15:50:00.000Z',
  updated_at: '2026-12-07T15:50:00.000Z',
};

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
}).meta({
  examples: [{ network: 'linkedin', client_key: '86abc1def2gh3i', client_secret: 'WPL_AP1.s3cr3t', redirect_uris: ['https://app.example.com/connected'] }],
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
          description:
            "Stores your OAuth app's credentials for one network: its client id and secret (encrypted, never returned), scopes and the redirect URIs auth-url may send people back to. Register the returned `callback_url` at the network. 201 when the network was not configured yet, 200 when this replaced its configuration.",
          body: SaveBody,
          response: { 200: success(NetworkConfig, NETWORK_CONFIG_EXAMPLE).describe('Replaced'), 201: success(NetworkConfig, NETWORK_CONFIG_EXAMPLE).describe('Configured') },
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
      { schema: { tags: ['Social networks'], operationId: 'listSocialNetworks', summary: 'List configured networks', description: 'Every network this organization has configured an app for, with its callback URL (never the client secret).', response: { 200: listOf(NetworkConfig, NETWORK_CONFIG_EXAMPLE) } } },
      async (req) => {
        const rows = await listNetworkConfigs(ctx.db, req.caller.orgId);
        return { success: true as const, data: rows.map((row) => toView(ctx, row)), count: rows.length, limit: rows.length, offset: 0 };
      },
    );

    r.get(
      '/v1/social-networks/:id',
      {
        schema: { tags: ['Social networks'], operationId: 'getSocialNetwork', summary: 'One configured network (by id or network name)', description: 'The configuration, by its id or by the network name (`linkedin`, `x`, …).', params: IdParam, response: { 200: success(NetworkConfig, NETWORK_CONFIG_EXAMPLE) }, errors: { 404: 'Social network configuration not found' } },
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
          description: "Removes the app's credentials. Every account connected through it is marked `disconnected` (an `account.disconnected` event each) and its tokens are removed.",
          params: IdParam,
          response: { 200: success(z.object({ id: z.string(), deleted: z.literal(true) }), { id: NETWORK_CONFIG_EXAMPLE.id, deleted: true }) },
          errors: { 404: 'Social network configuration not found' },
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
