// The MCP server at /mcp, driven by the SDK's own Client over Streamable HTTP against a real server: the eight
// tools and their schemas, the API key (as /v1's), connecting a sandbox account from the URL a tool gives,
// posting, reading, listing and cancelling, refusals as tool errors in /v1's words, and organizations kept apart.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDue } from '../src/publishing/engine.ts';
import { TestBrowser } from './helpers/browser.ts';
import { configureSandbox, consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const TOOLS = [
  'list_social_networks',
  'get_connection_url',
  'list_social_accounts',
  'get_account_health',
  'create_post',
  'get_post',
  'list_posts',
  'cancel_post',
];

let t: TestServer;
let mcp: Client;
let otherKey: string;
let other: Client;
let accountId: string;
const clients: Client[] = [];

async function connectClient(key: string | undefined): Promise<Client> {
  const client = new Client({ name: 'switchboard-test', version: '1.0.0' });
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** A tool's structured result; fails the test with the tool's words when it refused. */
async function ok(client: Client, name: string, args: Record<string, unknown> = {}): Promise<any> {
  const result = await call(client, name, args);
  expect(result.isError, textOf(result)).toBeFalsy();
  // The same JSON as text beside it, for clients that read only text.
  expect(JSON.parse(textOf(result))).toEqual(result.structuredContent);
  return result.structuredContent;
}

/** A tool's refusal text (the call must have been refused). */
async function refused(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await call(client, name, args);
  expect(result.isError, JSON.stringify(result)).toBe(true);
  expect(result.structuredContent).toBeUndefined();
  return textOf(result);
}

const textOf = (result: CallToolResult) => result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

beforeAll(async () => {
  t = await startTestServer();
  await configureSandbox(t);
  otherKey = (await t.api('POST', '/v1/organizations', { name: 'Other Org' })).body.data.api_key;
  mcp = await connectClient(t.apiKey);
  other = await connectClient(otherKey);
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.close();
});

describe('the server and its key', () => {
  it('lists the eight tools, each with an input and an output schema', async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([...TOOLS].sort());
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy();
      expect(tool.inputSchema.type, tool.name).toBe('object');
      // Unknown arguments are refused, as unknown fields are on /v1.
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      expect(tool.outputSchema?.type, tool.name).toBe('object');
    }
    const createPost = tools.find((tool) => tool.name === 'create_post')!;
    expect(Object.keys(createPost.inputSchema.properties!)).toEqual(expect.arrayContaining(['content', 'containers', 'accounts', 'scheduledAt', 'isDraft', 'sandbox']));
    const getPost = tools.find((tool) => tool.name === 'get_post')!;
    expect(getPost.inputSchema.required).toEqual(['post_id']);
    expect(tools.find((tool) => tool.name === 'list_posts')!.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((tool) => tool.name === 'cancel_post')!.annotations?.destructiveHint).toBe(true);
  });

  it('refuses a missing or wrong API key with 401, as /v1 does', async () => {
    // The SDK's client reports the HTTP status and our error body.
    await expect(connectClient(undefined)).rejects.toMatchObject({ code: 401, message: expect.stringContaining('Missing API key') });
    await expect(connectClient('sb_not_a_real_key')).rejects.toMatchObject({ code: 401, message: expect.stringContaining('Invalid API key') });
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
    const post = (headers: Record<string, string>) =>
      fetch(`${t.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize) });
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ success: false, code: 'missing_api_key' });
    const wrong = await post({ authorization: 'Bearer sb_not_a_real_key' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ success: false, code: 'invalid_api_key' });
    // X-API-Key works too, and the answer carries the request id and the key's rate-limit headers like /v1.
    const good = await post({ 'x-api-key': t.apiKey });
    expect(good.status).toBe(200);
    expect(good.headers.get('x-request-id')).toBeTruthy();
    expect(good.headers.get('x-ratelimit-limit')).toBeTruthy();
    expect(((await good.json()) as any).result.serverInfo.name).toBe('switchboard');
  });

  it('answers GET and DELETE with 405: there are no sessions or streams to serve', async () => {
    const res = await fetch(`${t.url}/mcp`, { headers: { authorization: `Bearer ${t.apiKey}`, accept: 'text/event-stream' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('connecting accounts', () => {
  it('lists the configured sandbox network with its callback URL, and the supported networks', async () => {
    const result = await ok(mcp, 'list_social_networks');
    expect(result.networks).toEqual([expect.objectContaining({ network: 'sandbox', callback_url: `${t.url}/oauth/sandbox/callback`, redirect_uris: [REDIRECT_URI] })]);
    expect(result.supported_networks).toEqual(expect.arrayContaining(['sandbox', 'x', 'bluesky']));
    expect((await ok(other, 'list_social_networks')).networks).toEqual([]);
  });

  it('gives a connection URL that connects a sandbox account, then lists it as /v1 does', async () => {
    const { auth_url, expires_at } = await ok(mcp, 'get_connection_url', { network: 'sandbox', redirect_uri: REDIRECT_URI, tenant_id: 'mcp_tenant' });
    expect(auth_url.startsWith(`${t.url}/connect/`)).toBe(true);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());
    const params = resultParams(await consent(new TestBrowser(), auth_url, 'solo_mcp'));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;

    const listed = await ok(mcp, 'list_social_accounts', { tenant_id: 'mcp_tenant' });
    expect(listed).toMatchObject({ count: 1, limit: 50, offset: 0, next_cursor: null });
    expect(listed.accounts[0]).toMatchObject({ id: accountId, network: 'sandbox', username: 'solo_mcp', tenant_id: 'mcp_tenant', status: 'active' });
    const v1 = await t.api('GET', '/v1/social-accounts?tenantId=mcp_tenant');
    expect(listed.accounts).toEqual(v1.body.data);
    expect((await ok(mcp, 'list_social_accounts', { tenant_id: 'nobody' })).accounts).toEqual([]);
  });

  it('refuses a connection URL /v1 would refuse, in the same words', async () => {
    const notAllowed = await refused(mcp, 'get_connection_url', { network: 'sandbox', redirect_uri: 'https://elsewhere.example.test/back' });
    expect(notAllowed).toContain('Invalid payload');
    expect(notAllowed).toContain('redirect_uri: redirect_uri is not in the allowed redirect_uris of the sandbox configuration');
    expect(await refused(mcp, 'get_connection_url', { network: 'myspace' })).toContain('Unsupported network: "myspace" is not a network this server connects');
    // The other organization has not configured the sandbox.
    expect(await refused(other, 'get_connection_url', { network: 'sandbox' })).toBe('Network not configured: Configure sandbox first with POST /v1/social-networks');
  });

  it("checks an account's health at the network", async () => {
    const health = await ok(mcp, 'get_account_health', { account_id: accountId });
    expect(health).toMatchObject({ id: accountId, healthy: true, status: 'active' });
  });
});

describe('posts', () => {
  it('creates a scheduled post, reads it, lists it and cancels it', async () => {
    const scheduledAt = inAnHour();
    const { post } = await ok(mcp, 'create_post', { content: 'Hello from an agent', accounts: [accountId], scheduledAt });
    expect(post).toMatchObject({ status: 'scheduled', isDraft: false, containers: [{ content: 'Hello from an agent' }] });
    expect(post.socialAccounts).toEqual([expect.objectContaining({ id: accountId, network: 'sandbox', status: 'pending' })]);
    expect(Date.parse(post.scheduledAt)).toBe(Date.parse(scheduledAt));

    const read = await ok(mcp, 'get_post', { post_id: post.id });
    expect(read.post).toEqual((await t.api('GET', `/v1/posts/${post.id}`)).body.post);

    const listed = await ok(mcp, 'list_posts', { status: 'scheduled', social_account_id: accountId });
    expect(listed.posts.map((p: { id: string }) => p.id)).toContain(post.id);
    expect(listed.pagination).toMatchObject({ limit: 50, offset: 0 });

    const cancelled = await ok(mcp, 'cancel_post', { post_id: post.id });
    expect(cancelled.post.status).toBe('cancelled');
    expect(cancelled.post.socialAccounts[0].status).toBe('cancelled');
    expect((await t.api('GET', `/v1/posts/${post.id}`)).body.post.status).toBe('cancelled');
    expect((await ok(mcp, 'list_posts', { status: 'scheduled', social_account_id: accountId })).posts.map((p: { id: string }) => p.id)).not.toContain(post.id);
  });

  it('keeps a draft, seen through /v1 as well', async () => {
    const { post } = await ok(mcp, 'create_post', { containers: [{ content: 'Draft one' }, { content: 'and its reply' }], isDraft: true, accounts: [accountId] });
    expect(post.status).toBe('draft');
    expect(post.containers.map((c: { content: string }) => c.content)).toEqual(['Draft one', 'and its reply']);
    const v1 = await t.api('GET', '/v1/posts?status=draft');
    expect(v1.body.posts.map((p: { id: string }) => p.id)).toContain(post.id);
  });

  it("refuses a post an account cannot take, naming the account and the network's rule, and keeps nothing", async () => {
    const before = (await ok(mcp, 'list_posts')).pagination.total;
    const text = await refused(mcp, 'create_post', { content: 'x'.repeat(600), accounts: [accountId], scheduledAt: inAnHour() });
    expect(text.startsWith('Invalid payload: ')).toBe(true);
    expect(text).toContain(`accounts.${accountId}: `);
    expect(text).toMatch(/500/);
    // The same refusal /v1 gives, word for word.
    const v1 = await t.api('POST', '/v1/posts', { content: 'x'.repeat(600), accounts: [accountId], scheduledAt: inAnHour() });
    expect(v1.status).toBe(400);
    expect(text).toBe(`Invalid payload: accounts.${accountId}: ${v1.body.details.accounts[accountId]._errors.join(`; accounts.${accountId}: `)}`);
    expect(await refused(mcp, 'create_post', { content: 'Hi', accounts: ['nobody_here'] })).toBe(
      'Invalid payload: accounts.nobody_here: nobody_here matches no account of this organization',
    );
    expect(await refused(mcp, 'create_post', { accounts: [accountId] })).toBe('Invalid payload: content: Required (or containers)');
    expect((await ok(mcp, 'list_posts')).pagination.total).toBe(before);
  });

  it('publishes a post made now, and refuses to cancel it once publishing has begun, in /v1 words', async () => {
    const { post } = await ok(mcp, 'create_post', { content: 'Out now', accounts: [accountId] });
    expect(post.status).toBe('publishing');
    expect(await refused(mcp, 'cancel_post', { post_id: post.id })).toBe('The post cannot be cancelled: The post is publishing: publishing has begun');
    expect(await publishDue(t.server.ctx)).toBe(1);
    const published = (await ok(mcp, 'get_post', { post_id: post.id })).post;
    expect(published.status).toBe('published');
    expect(published.socialAccounts[0]).toMatchObject({ status: 'published', error: null });
    expect(published.socialAccounts[0].platformPostUrl).toMatch(/^http/);
    expect(await refused(mcp, 'cancel_post', { post_id: post.id })).toBe(
      'The post cannot be cancelled: The post is already published: delete it at the networks with DELETE /v1/posts/{id}/remote',
    );
  });
});

describe('organizations kept apart', () => {
  it("answers another organization's account and post ids as not found, and changes nothing", async () => {
    const { post } = await ok(mcp, 'create_post', { content: 'Ours alone', accounts: [accountId], scheduledAt: inAnHour() });
    expect(await refused(other, 'get_post', { post_id: post.id })).toBe('Post not found');
    expect(await refused(other, 'cancel_post', { post_id: post.id })).toBe('Post not found');
    expect((await ok(mcp, 'get_post', { post_id: post.id })).post.status).toBe('scheduled');
    expect(await refused(other, 'get_account_health', { account_id: accountId })).toBe('Social account not found');
    expect(await refused(other, 'create_post', { content: 'Hijack', accounts: [accountId] })).toContain(`accounts.${accountId}: ${accountId} matches no account of this organization`);
    expect((await ok(other, 'list_social_accounts')).accounts).toEqual([]);
    expect((await ok(other, 'list_posts')).posts).toEqual([]);
    expect(await refused(mcp, 'get_post', { post_id: '01JZZZZZZZZZZZZZZZZZZZZZZZ' })).toBe('Post not found');
  });
});

describe('invalid input', () => {
  it('refuses arguments that do not fit the schema with a clear error naming the argument, and creates nothing', async () => {
    const before = (await ok(mcp, 'list_posts')).pagination.total;
    const wrongType = await refused(mcp, 'create_post', { content: 'Hi', accounts: accountId });
    expect(wrongType).toMatch(/Input validation error/);
    expect(wrongType).toMatch(/accounts/);
    const unknown = await refused(mcp, 'create_post', { content: 'Hi', accounts: [accountId], scheduled_at: inAnHour() });
    expect(unknown).toMatch(/scheduled_at/);
    expect(await refused(mcp, 'create_post', { content: 'Hi', accounts: [accountId], scheduledAt: 'tomorrow' })).toMatch(/scheduledAt/);
    expect(await refused(mcp, 'get_post', {})).toMatch(/post_id/);
    expect(await refused(mcp, 'list_social_accounts', { limit: 1000 })).toMatch(/limit/);
    expect(await refused(mcp, 'list_social_accounts', { tenant_id: 'has spaces' })).toMatch(/tenant_id/);
    expect((await ok(mcp, 'list_posts')).pagination.total).toBe(before);
  });

  it('refuses a NUL byte before it reaches the database', async () => {
    const res = await fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'create_post', arguments: { content: 'a\u0000b', accounts: [accountId] } } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ success: false, error: 'Invalid payload' });
  });
});

describe('the rate limit', () => {
  it("counts /mcp against the key's /v1 budget and answers 429 past it, as /v1 does", async () => {
    const limited = await startTestServer({ SWITCHBOARD_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const listTools = () =>
        fetch(`${limited.url}/mcp`, {
          method: 'POST',
          headers: { authorization: `Bearer ${limited.apiKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        });
      expect((await listTools()).status).toBe(200);
      expect((await limited.api('GET', '/v1/social-accounts')).status).toBe(200);
      const third = await listTools();
      expect(third.status).toBe(200);
      expect(third.headers.get('x-ratelimit-remaining')).toBe('0');
      const past = await listTools();
      expect(past.status).toBe(429);
      expect(await past.json()).toMatchObject({ success: false, code: 'rate_limited' });
      expect((await limited.api('GET', '/v1/social-accounts')).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
