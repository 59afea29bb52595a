// The MCP tools: what an agent may do with an organization's API key, each tool one call into the same modules
// the /v1 routes call (so the same checks, views and refusals), never a request to ourselves. Inputs and outputs
// are Zod schemas (the SDK turns them into the JSON Schemas tools/list shows); results are `structuredContent`
// with the same JSON as text beside it. A refusal is a tool result with `isError: true` and the words /v1 would
// answer — not a protocol error, so the agent can read it and change course.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AppContext } from '../context.ts';
import { accountsPage, findAccount } from '../accounts/accounts.ts';
import { checkHealth, Health } from '../accounts/health.ts';
import { AuthUrl, authUrlFor, AuthUrlRequest } from '../connect/auth-url.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';
import { ApiError, InvalidPayload, notFound } from '../http/errors.ts';
import { Cursor, IdParam, SocialAccount, TenantId } from '../http/schemas.ts';
import { listNetworkConfigs, toView } from '../networks/network-configs.ts';
import { NetworkConfig } from '../networks/routes.ts';
import { cancelOrRefuse, listPostViews, postOrNotFound, submitPost } from '../publishing/post-requests.ts';
import { PostRefused } from '../publishing/posts.ts';
import { CreatePostBody, ListPostsQuery, PostView } from '../publishing/schemas.ts';
import { postView } from '../publishing/views.ts';

/** Who is calling: the API key's organization, and the request's logger (it carries the request id and org). */
export interface ToolCaller {
  orgId: string;
  log: Logger;
}

const Id = IdParam.shape.id;
const PostResult = z.object({ post: PostView });

/** A new MCP server with every tool bound to `caller`'s organization (one per request: the server is stateless). */
export function mcpServerFor(ctx: AppContext, caller: ToolCaller): McpServer {
  const server = new McpServer({ name: 'switchboard', version: '0.1.0' });
  const { orgId } = caller;
  const tool = defineTool(server, caller);

  tool(
    'list_social_networks',
    {
      description:
        "The networks this organization has configured (its own OAuth app per network, with the callback URL to register at the network), and every network this server can connect. The sandbox network needs no credentials.",
      input: z.strictObject({}),
      output: z.object({ networks: z.array(NetworkConfig), supported_networks: z.array(z.string()) }),
      annotations: { readOnlyHint: true },
    },
    async () => ({
      networks: (await listNetworkConfigs(ctx.db, orgId)).map((row) => toView(ctx, row)),
      supported_networks: ctx.adapters.supported(),
    }),
  );

  tool(
    'get_connection_url',
    {
      description:
        'A one-time URL (valid 15 minutes) to send an end user to, to connect their account of a configured network. Pass account_id to reconnect an account (it keeps its id).',
      input: z.strictObject({ network: z.string().min(1).max(64).describe('facebook, instagram, x (twitter), linkedin, … or sandbox'), ...AuthUrlRequest.shape }),
      output: AuthUrl,
      annotations: { readOnlyHint: false, destructiveHint: false },
    },
    async ({ network, ...body }) => authUrlFor(ctx, orgId, network, body),
  );

  tool(
    'list_social_accounts',
    {
      description: 'Connected social accounts, oldest first; filter by tenant, network, username (partial) or status. Page with next_cursor.',
      input: z.strictObject({
        tenant_id: TenantId.optional().describe('Only this tenant’s accounts'),
        network: z.string().max(64).optional(),
        network_unique_id: z.string().max(256).optional(),
        username: z.string().max(256).optional().describe('Partial, case-insensitive match'),
        status: z.enum(['active', 'reauth_required', 'disconnected']).optional(),
        limit: z.number().int().min(1).max(100).default(50),
        offset: z.number().int().min(0).max(1_000_000).default(0),
        cursor: Cursor.optional().describe('next_cursor of the previous page'),
      }),
      output: z.object({
        accounts: z.array(SocialAccount),
        count: z.number().int(),
        limit: z.number().int(),
        offset: z.number().int(),
        next_cursor: z.string().nullable(),
      }),
      annotations: { readOnlyHint: true },
    },
    async (q) => {
      const { data, ...page } = await accountsPage(
        ctx.db,
        orgId,
        { tenantId: q.tenant_id, network: q.network, networkUniqueId: q.network_unique_id, username: q.username, status: q.status },
        { limit: q.limit, offset: q.offset, cursor: q.cursor },
      );
      // The API's own JSON for the page (one field map for both), read back.
      return { accounts: JSON.parse(data), ...page };
    },
  );

  tool(
    'get_account_health',
    {
      description: "Checks an account's token against its network (refreshing it once if the network says it died): healthy, status, and why not.",
      input: z.strictObject({ account_id: Id }),
      output: Health,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async ({ account_id }) => {
      const account = await findAccount(ctx.db, orgId, account_id);
      if (!account) throw notFound('Social account');
      return checkHealth(ctx, account);
    },
  );

  tool(
    'create_post',
    {
      description:
        'Publishes now, schedules (scheduledAt, ISO 8601) or keeps a draft (isDraft, or no accounts). content is one post; containers a thread. accounts: account ids, network names (every active account of it) or usernames. Every target is checked against its network’s rules first: a post some account cannot take is refused, naming the account and the reason.',
      input: z.strictObject(CreatePostBody.shape),
      output: PostResult,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    },
    async (body) => ({ post: await postView(ctx, ctx.db, await submitPost(ctx, orgId, body)) }),
  );

  tool(
    'get_post',
    {
      description: "One post with every target's status, the network's post id and URL, and the error if it failed.",
      input: z.strictObject({ post_id: Id }),
      output: PostResult,
      annotations: { readOnlyHint: true },
    },
    async ({ post_id }) => ({ post: await postView(ctx, ctx.db, await postOrNotFound(ctx, orgId, post_id)) }),
  );

  tool(
    'list_posts',
    {
      description: 'Posts, newest first; filter by account, tenant, status, creation or schedule time.',
      input: z.strictObject(ListPostsQuery.omit({ tenantId: true }).shape),
      output: z.object({ posts: z.array(PostView), pagination: z.object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int() }) }),
      annotations: { readOnlyHint: true },
    },
    async (q) => {
      const { views, total } = await listPostViews(ctx, orgId, q);
      return { posts: views, pagination: { limit: q.limit, offset: q.offset, total } };
    },
  );

  tool(
    'cancel_post',
    {
      description: 'Cancels a draft or scheduled post. A post already publishing or published cannot be cancelled.',
      input: z.strictObject({ post_id: Id }),
      output: PostResult,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
    },
    async ({ post_id }) => ({ post: await postView(ctx, ctx.db, await cancelOrRefuse(ctx, orgId, post_id)) }),
  );

  return server;
}

interface ToolSpec<I extends z.ZodObject, O extends z.ZodObject> {
  description: string;
  input: I;
  output: O;
  annotations: ToolAnnotations;
}

/** Registers tools whose `run` returns the output's value or throws the API's errors. */
function defineTool(server: McpServer, caller: ToolCaller) {
  return <I extends z.ZodObject, O extends z.ZodObject>(name: string, spec: ToolSpec<I, O>, run: (args: z.output<I>) => Promise<z.input<O>>) => {
    const handler = async (args: z.output<I>): Promise<CallToolResult> => {
      try {
        // Parsed, as /v1's serializer does: exactly the schema's fields (the client holds them to outputSchema).
        const structured = spec.output.parse(await run(args)) as Record<string, unknown>;
        return { structuredContent: structured, content: [{ type: 'text', text: JSON.stringify(structured) }] };
      } catch (err) {
        return { isError: true, content: [{ type: 'text', text: refusalText(err, caller.log, name) }] };
      }
    };
    server.registerTool(
      name,
      { description: spec.description, inputSchema: spec.input, outputSchema: spec.output, annotations: spec.annotations },
      handler as never,
    );
  };
}

/** The words /v1 answers for `err` (`error: message`); an unexpected error is logged and never quoted. */
function refusalText(err: unknown, log: Logger, tool: string): string {
  if (err instanceof PostRefused) return `Invalid payload: ${plainDetails(err.details)}`;
  if (err instanceof InvalidPayload) return `Invalid payload: ${plainDetails(err.details)}`;
  if (err instanceof ApiError) return err.message;
  if (isDatabaseUnavailable(err)) return `Service unavailable: ${DATABASE_UNAVAILABLE_MESSAGE}`;
  log.error({ err, tool }, 'MCP tool failed');
  return 'Internal server error: An unexpected error occurred';
}

/** A zod format tree (`{accounts: {ID: {_errors: [...]}}}`) as lines of `accounts.ID: message`. */
function plainDetails(tree: unknown, path: string[] = []): string {
  if (!tree || typeof tree !== 'object') return '';
  const lines: string[] = [];
  for (const [key, value] of Object.entries(tree)) {
    if (key === '_errors' && Array.isArray(value)) {
      for (const message of value) lines.push(path.length ? `${path.join('.')}: ${message}` : String(message));
    } else {
      const nested = plainDetails(value, [...path, key]);
      if (nested) lines.push(nested);
    }
  }
  return lines.join('; ');
}
