// `/v1/social-accounts/{id}/publishing-defaults`: read, replace and clear the options a post to this account gets
// when it does not give them (publishing-defaults.ts). The body is what a post carries under the network's name
// (`pinterest: {…}` in POST /v1/posts), so the adapter's schema checks both; a refused body changes nothing.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { invalidPayload, notFound } from '../http/errors.ts';
import { IdParam, success } from '../http/schemas.ts';
import type { NetworkAdapter, NetworkId } from '../providers/types.ts';
import { findAccount, type AccountRow } from './accounts.ts';
import { checkDefaults, DefaultsRefused, saveDefaults, type DefaultsProblem } from './publishing-defaults.ts';

/** Room for every option a network has, with long titles and links; not for storing documents. */
const MAX_DEFAULTS_JSON = 16 * 1024;

const DefaultsBody = z
  .record(z.string().max(64), z.unknown())
  .refine((v) => JSON.stringify(v).length <= MAX_DEFAULTS_JSON, `Publishing defaults are at most ${MAX_DEFAULTS_JSON} bytes of JSON`)
  .describe(
    "The options, as a post gives them under the account's network name in POST /v1/posts (e.g. Pinterest `{board_id, title?, link?}`, " +
      'TikTok `{privacyLevel, postMode?, disableComment?}`, YouTube `{privacyStatus, categoryId?, tags?}`), checked by the same schema. ' +
      'Replaces the stored defaults; `{}` clears them',
  );

const DefaultsView = z
  .object({
    account_id: z.string(),
    network: z.string(),
    defaults: z.record(z.string(), z.unknown()).describe("Given to every post to this account that does not set them itself (the post's own options win, field by field)"),
    updated_at: z.string(),
  })
  .meta({ id: 'PublishingDefaults' });

/** Problems as the `details` of a 400 `Invalid payload` (zod's format tree: `{board_id: {_errors: […]}}`). */
function problemTree(problems: DefaultsProblem[]) {
  type Node = { _errors: string[]; [key: string]: unknown };
  const root: Node = { _errors: [] };
  for (const { path, message } of problems) {
    let node = root;
    for (const key of path) node = (node[key] ??= { _errors: [] }) as Node;
    node._errors.push(message);
  }
  return root;
}

const view = (account: AccountRow) => ({
  success: true as const,
  data: { account_id: account.id, network: account.network, defaults: account.publishingDefaults, updated_at: account.updatedAt.toISOString() },
});

export function publishingDefaultsRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['Social accounts'];
    const path = '/v1/social-accounts/:id/publishing-defaults';

    async function accountOr404(orgId: string, id: string) {
      const account = await findAccount(ctx.db, orgId, id);
      if (!account) throw notFound('Social account');
      return account;
    }

    r.get(
      path,
      { schema: { tags, operationId: 'getPublishingDefaults', summary: "The account's publishing defaults", description: 'The options every post to this account gets for what it does not set itself (a Pinterest board, a TikTok privacy level, a YouTube category…).', params: IdParam, response: { 200: success(DefaultsView, { account_id: 'acc_01jf3k5p6q7r8s9t0u1v', network: 'pinterest', defaults: { board_id: '987654321098765432', link: 'https://example.com' }, updated_at: '2026-12-07T16:02:00.000Z' }) }, errors: { 404: 'Social account not found' } } },
      async (req) => view(await accountOr404(req.caller.orgId, req.params.id)),
    );

    r.put(
      path,
      {
        schema: {
          tags,
          operationId: 'replacePublishingDefaults', summary: "Replace the account's publishing defaults (checked by its network's options schema; refused → nothing changes)",
          description:
            "Replaces the stored defaults with the body, checked by the account's network options schema as a post's options are (a refusal is a 400 naming each field, and nothing changes). Posts already accepted keep the options they were checked with.",
          params: IdParam,
          body: DefaultsBody.meta({ examples: [{ board_id: '987654321098765432', link: 'https://example.com' }] }),
          response: { 200: success(DefaultsView, { account_id: 'acc_01jf3k5p6q7r8s9t0u1v', network: 'pinterest', defaults: { board_id: '987654321098765432', link: 'https://example.com' }, updated_at: '2026-12-07T16:02:00.000Z' }) },
          errors: { 404: 'Social account not found' },
        },
      },
      async (req, reply) => {
        const account = await accountOr404(req.caller.orgId, req.params.id);
        try {
          checkDefaults(ctx.adapters.get(account.network as NetworkId) as NetworkAdapter, req.body);
        } catch (err) {
          if (!(err instanceof DefaultsRefused)) throw err;
          return invalidPayload(reply, problemTree(err.problems));
        }
        const saved = await saveDefaults(ctx.db, account, req.body);
        if (!saved) throw notFound('Social account');
        return view(saved);
      },
    );

    r.delete(
      path,
      { schema: { tags, operationId: 'clearPublishingDefaults', summary: "Clear the account's publishing defaults", description: 'Removes every stored default: posts to the account then get only their own options.', params: IdParam, response: { 200: success(DefaultsView, { account_id: 'acc_01jf3k5p6q7r8s9t0u1v', network: 'pinterest', defaults: {}, updated_at: '2026-12-07T16:03:00.000Z' }) }, errors: { 404: 'Social account not found' } } },
      async (req) => {
        const saved = await saveDefaults(ctx.db, await accountOr404(req.caller.orgId, req.params.id), {});
        if (!saved) throw notFound('Social account');
        return view(saved);
      },
    );
  };
}
