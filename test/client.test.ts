// The typed client (@switchboard/client, clients/typescript) against a real server: what an integrator writes —
// configure the sandbox network, connect an account through its consent page, list accounts, upload a file,
// publish a post and read its status; and failures thrown as SwitchboardError with the API's status and code.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The package's modules one by one, not its index: the index also exports the browser popup helper (DOM types),
// which this project's Node-only type check does not load (`tsc -p clients/typescript` checks it with the DOM lib).
import { createSwitchboard } from '../clients/typescript/src/client.ts';
import { SwitchboardError } from '../clients/typescript/src/errors.ts';
import type { Switchboard } from '../clients/typescript/src/generated/sdk.gen.ts';
import type { Post } from '../clients/typescript/src/generated/types.gen.ts';
import { uploadMedia } from '../clients/typescript/src/media.ts';
import { TestBrowser } from './helpers/browser.ts';
import { consent, REDIRECT_URI, resultParams } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

let t: TestServer;
let sb: Switchboard;
let accountId: string;

/** What a caller of the client gets thrown, for assertions on it. */
async function thrown(call: Promise<unknown>): Promise<SwitchboardError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  return err as SwitchboardError;
}

async function settled(id: string): Promise<Post> {
  for (let i = 0; i < 300; i++) {
    const post = await sb.getPost({ path: { id } });
    if (['published', 'partial', 'failed'].includes(post.status)) return post;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`post ${id} did not settle`);
}

beforeAll(async () => {
  t = await startTestServer({ SWITCHBOARD_WORKER_INTERVAL_MS: '200' }, { worker: true });
  sb = createSwitchboard({ baseUrl: t.url, apiKey: t.apiKey });
});
afterAll(() => t?.close());

describe('the typed client', () => {
  it('connects a sandbox account: configure the network, get an auth URL, consent, then see the account listed', async () => {
    const network = await sb.configureSocialNetwork({ body: { network: 'sandbox', redirect_uris: [REDIRECT_URI] } });
    expect(network.network).toBe('sandbox');

    const { auth_url } = await sb.createAuthUrl({ path: { network: 'sandbox' }, body: { redirect_uri: REDIRECT_URI } });
    expect(auth_url.startsWith(`${t.url}/connect/`)).toBe(true);
    const params = resultParams(await consent(new TestBrowser(), auth_url, 'solo-ada'));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;

    const page = await sb.listSocialAccounts({ query: { network: 'sandbox' } });
    expect(page.count).toBe(1);
    expect(page.data.map((a) => [a.id, a.network, a.username])).toEqual([[accountId, 'sandbox', 'solo-ada']]);
    const account = await sb.getSocialAccount({ path: { id: accountId } });
    expect(account.username).toBe('solo-ada');
  });

  it('uploads an image and publishes a post with it; the post is read back published, with its URL at the network', async () => {
    const media = await uploadMedia(sb, { data: PNG, filename: 'dot.png', contentType: 'image/png' });
    expect(media).toMatchObject({ filename: 'dot.png', content_type: 'image/png', size: PNG.length });
    expect(media.url).toBeTruthy();

    const created = await sb.createPost({ body: { containers: [{ content: 'Hello from the typed client', media: [{ id: media.id }] }], accounts: [accountId] } });
    expect(created.socialAccounts.map((a) => a.id)).toEqual([accountId]);
    const post = await settled(created.id);
    expect(post.status, JSON.stringify(post.socialAccounts)).toBe('published');
    const target = post.socialAccounts[0]!;
    expect(target.platformPostUrl).toMatch(new RegExp(`^${t.url}/sandbox/@solo-ada/posts/`));

    // The network has it: its public timeline shows the text.
    const timeline = await fetch(`${t.url}/sandbox/@solo-ada`).then((r) => r.text());
    expect(timeline).toContain('Hello from the typed client');
    const listed = await sb.listPosts({ query: { status: 'published' } });
    expect(listed.posts.map((p) => p.id)).toContain(created.id);
  });

  it('throws a SwitchboardError with status 401 and the code invalid_api_key for a wrong key', async () => {
    const stranger = createSwitchboard({ baseUrl: t.url, apiKey: 'sb_not_a_key_0123456789' });
    const err = await thrown(stranger.listSocialAccounts());
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key', error: 'Invalid API key' });
    expect(err.requestId).toBeTruthy();
  });

  it('throws a SwitchboardError 400 invalid_payload naming the field for a bad body, and creates nothing', async () => {
    const before = await sb.listPosts();
    // A caller without the types (plain JavaScript) can send anything: the server refuses it.
    const err = await thrown(sb.createPost({ body: { containers: [{ content: 42 }], accounts: [accountId] } as never }));
    expect(err).toMatchObject({ status: 400, code: 'invalid_payload' });
    expect(JSON.stringify(err.details)).toContain('containers');
    const after = await sb.listPosts();
    expect(after.pagination.total).toBe(before.pagination.total);
  });

  it('throws a 404 not_found for an id that does not exist', async () => {
    const err = await thrown(sb.getPost({ path: { id: 'post_doesnotexist' } }));
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('is installed as the workspace package @switchboard/client, and its built JavaScript runs in plain Node', async () => {
    // What `npm install` at the root gives a consumer: the package linked by name, dist/ built by `prepare`.
    const script = `
      const { createSwitchboard } = await import('@switchboard/client');
      const sb = createSwitchboard({ baseUrl: process.env.SB_URL, apiKey: process.env.SB_KEY });
      const page = await sb.listSocialAccounts();
      console.log(JSON.stringify(page.data.map((a) => a.username)));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SB_URL: t.url, SB_KEY: t.apiKey } });
    expect(JSON.parse(stdout)).toEqual(['solo-ada']);
  });

  it('throws network_error (status 0) when no server answers', async () => {
    const nowhere = createSwitchboard({ baseUrl: 'http://127.0.0.1:9', apiKey: t.apiKey });
    const err = await thrown(nowhere.listPosts());
    expect(err).toMatchObject({ status: 0, code: 'network_error' });
  });
});
