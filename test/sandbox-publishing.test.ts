// The sandbox network publishes: its resource API (media, posts, replies, idempotency keys, deletes, faults), its
// timeline pages, and the `sandbox` adapter's publishing against them — all over real HTTP, against a real server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxAdapter } from '../src/providers/sandbox.ts';
import { NetworkError, PublishError, type AppCredentials, type NetworkAdapter, type PartInput, type PublishContainer, type PublishedPart, type FoundProcessing, type SavedProgress } from '../src/providers/types.ts';
import { UpstreamClient } from '../src/providers/upstream.ts';
import { SandboxFaults } from '../src/sandbox/authorization-server.ts';
import { HostResolver } from '../src/security/destinations.ts';
import { OutboundHttp } from '../src/security/outbound-http.ts';
import { pkcePair, randomToken } from '../src/security/secrets.ts';
import { TestBrowser } from './helpers/browser.ts';
import { decide, openConsent, resultParams } from './helpers/flow.ts';
import { mediaFromBytes } from './helpers/publish-media.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

// Small real files: a 1×1 PNG, and the start of an MP4 (its `ftyp` box).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2mp41'), Buffer.alloc(64)]);
const MB = 1024 * 1024;

const faults = new SandboxFaults();
let t: TestServer;
let adapter: NetworkAdapter;
let app: AppCredentials;

beforeAll(async () => {
  t = await startTestServer({}, { sandboxFaults: faults });
  adapter = t.server.ctx.adapters.get('sandbox')!;
  app = { ...adapter.builtInApp!, scopes: [], options: {} };
});
afterAll(() => t?.close());
afterEach(() => faults.clear());

interface SignedIn {
  token: string;
  /** Page tokens, for users with pages. */
  pages: string[];
}

/** Signs `username` in at the sandbox with the built-in client, as the connection flow does, and redeems the code. */
async function signIn(username: string, scopes: string[] = []): Promise<SignedIn> {
  const client = { ...app, scopes };
  const redirectUri = `${t.url}/oauth/sandbox/callback`;
  const { verifier, challenge } = pkcePair();
  const browser = new TestBrowser();
  const consentPage = await openConsent(browser, adapter.authorizationUrl({ app: client, redirectUri, state: randomToken(), codeChallenge: challenge }));
  const params = resultParams(await decide(browser, consentPage, username, 'allow', redirectUri));
  const tokens = await adapter.exchangeCode({ app: client, code: params.get('code')!, redirectUri, codeVerifier: verifier, callbackParams: Object.fromEntries(params) });
  const profiles = await adapter.fetchProfiles({ app: client, tokens });
  return { token: tokens.accessToken, pages: profiles.slice(1).map((p) => p.tokens.accessToken) };
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(method: string, path: string, opts: { token?: string; json?: unknown; bytes?: Buffer; contentType?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Buffer | undefined;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (opts.bytes) {
    body = opts.bytes;
    headers['content-type'] = opts.contentType ?? 'application/octet-stream';
  }
  const res = await fetch(`${t.url}/sandbox${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* HTML or empty */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const upload = (token: string, bytes = PNG, contentType = 'image/png') => call('POST', '/api/media', { token, bytes, contentType });
const post = (token: string, json: unknown, key?: string) => call('POST', '/api/posts', { token, json, headers: key ? { 'idempotency-key': key } : {} });

function expectApiError(answer: Answer, status: number, error: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body).toEqual({ error, error_description: expect.any(String) });
}

async function timeline(username: string) {
  const res = await fetch(`${t.url}/sandbox/@${username}`);
  return { status: res.status, headers: res.headers, html: await res.text() };
}

// ---------------------------------------------------------------------------------------------------------------

describe('resource API: media', () => {
  it('takes an image with a posts.write token and serves it back as that type, nosniff', async () => {
    const { token } = await signIn('solo-mia');
    const res = await upload(token);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), content_type: 'image/png', size: PNG.length });
    const served = await fetch(`${t.url}/sandbox/media/${res.body.id}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
    expect((await fetch(`${t.url}/sandbox/media/nothing-here`)).status).toBe(404);
  });

  it('takes a video from a page token (pages post with their login\'s scopes)', async () => {
    const { pages } = await signIn('vera');
    const res = await upload(pages[0], MP4, 'video/mp4');
    expect(res.status).toBe(201);
    expect(res.body.content_type).toBe('video/mp4');
  });

  it('refuses a missing or bad token (401) and a token without posts.write (403), a page\'s too', async () => {
    expectApiError(await upload(''), 401, 'invalid_token');
    expectApiError(await upload('not-a-token'), 401, 'invalid_token');
    const noWrite = await signIn('walt', ['profile', 'pages.read']);
    expectApiError(await upload(noWrite.token), 403, 'insufficient_scope');
    expectApiError(await upload(noWrite.pages[0]), 403, 'insufficient_scope');
  });

  it('refuses other types (415), bytes that are not of the named type (400), and images over 5 MB (413)', async () => {
    const { token } = await signIn('solo-otto');
    expectApiError(await upload(token, Buffer.from('hello'), 'text/plain'), 415, 'invalid_request');
    const html = await upload(token, Buffer.from('<html><script>alert(1)</script></html>'), 'image/png');
    expectApiError(html, 400, 'invalid_request');
    expect(html.body.error_description).toContain('image/png');
    expectApiError(await upload(token, Buffer.alloc(0), 'image/png'), 400, 'invalid_request');
    const big = Buffer.concat([PNG, Buffer.alloc(5 * MB + 1 - PNG.length)]);
    const tooBig = await upload(token, big, 'image/png');
    expectApiError(tooBig, 413, 'invalid_request');
    expect(tooBig.body.error_description).toContain('5 MB');
    // Exactly 5 MB is an image the sandbox takes.
    expect((await upload(token, big.subarray(0, 5 * MB), 'image/png')).status).toBe(201);
  });
});

describe('resource API: posts', () => {
  it('makes a post and answers {id, url} with the permalink under the author\'s username', async () => {
    const { token } = await signIn('solo-pia');
    const res = await post(token, { text: 'Hello, sandbox' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), url: `${t.url}/sandbox/@solo-pia/posts/${res.body.id}` });
    const read = await call('GET', `/api/posts/${res.body.id}`, { token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: res.body.id, url: res.body.url, author_id: 'solo-pia', text: 'Hello, sandbox', media: [], reply_to: null });
  });

  it('counts text in graphemes: 500 family emoji are fine, 501 characters are not', async () => {
    const { token } = await signIn('solo-quinn');
    const family = '👨‍👩‍👧';
    expect((await post(token, { text: family.repeat(500) })).status).toBe(201);
    const long = await post(token, { text: 'a'.repeat(501) });
    expectApiError(long, 400, 'invalid_request');
    expect(long.body.error_description).toContain('500');
  });

  it('refuses unknown media, media of another account, too many images, images with a video, and an unknown reply_to', async () => {
    const { token } = await signIn('solo-rosa');
    const other = await signIn('solo-sam');
    const theirs = (await upload(other.token)).body.id;
    const images = await Promise.all([1, 2, 3, 4, 5].map(async () => (await upload(token)).body.id as string));
    const video = (await upload(token, MP4, 'video/mp4')).body.id;

    expectApiError(await post(token, { text: 'x', media_ids: ['no-such-media'] }), 400, 'invalid_request');
    expectApiError(await post(token, { text: 'x', media_ids: [theirs] }), 400, 'invalid_request');
    expectApiError(await post(token, { text: 'x', media_ids: images }), 400, 'invalid_request');
    expectApiError(await post(token, { text: 'x', media_ids: [images[0], video] }), 400, 'invalid_request');
    expectApiError(await post(token, { text: 'x', reply_to: 'no-such-post' }), 400, 'invalid_request');
    expectApiError(await post(token, { text: '' }), 400, 'invalid_request');
    expectApiError(await post(token, { text: 'x', extra: true }), 400, 'invalid_request');
    expect((await post(token, { text: 'four', media_ids: images.slice(0, 4) })).status).toBe(201);
    expect((await post(token, { text: '', media_ids: [video] })).status).toBe(201);
  });

  it('refuses a bad token (401) and a token without posts.write (403)', async () => {
    expectApiError(await post('nope', { text: 'x' }), 401, 'invalid_token');
    const { token } = await signIn('solo-tia', ['profile']);
    expectApiError(await post(token, { text: 'x' }), 403, 'insufficient_scope');
  });

  it('answers 404 for an unknown post', async () => {
    const { token } = await signIn('solo-uma');
    expectApiError(await call('GET', '/api/posts/no-such-post', { token }), 404, 'not_found');
    expectApiError(await call('DELETE', '/api/posts/no-such-post', { token }), 404, 'not_found');
  });
});

describe('resource API: Idempotency-Key', () => {
  it('the same key from the same author answers the first post again (200), and finds it by key', async () => {
    const { token } = await signIn('solo-vic');
    const key = randomToken();
    const first = await post(token, { text: 'once' }, key);
    expect(first.status).toBe(201);
    const again = await post(token, { text: 'once' }, key);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);

    const found = await call('GET', `/api/posts?idempotency_key=${encodeURIComponent(key)}`, { token });
    expect(found.status).toBe(200);
    expect(found.body.data).toHaveLength(1);
    expect(found.body.data[0]).toMatchObject({ id: first.body.id, url: first.body.url, text: 'once' });
    expect((await call('GET', `/api/posts?idempotency_key=never-used`, { token })).body).toEqual({ data: [] });

    const html = (await timeline('solo-vic')).html;
    expect(html.match(/<article /g)).toHaveLength(1);
  });

  it('keys are per author: another account with the same key makes its own post and cannot find the first', async () => {
    const a = await signIn('solo-wes');
    const b = await signIn('solo-xia');
    const key = randomToken();
    const first = await post(a.token, { text: 'A' }, key);
    const second = await post(b.token, { text: 'B' }, key);
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(first.body.id);
    expect((await call('GET', `/api/posts?idempotency_key=${key}`, { token: b.token })).body.data[0].id).toBe(second.body.id);
  });

  it('two requests racing with one key make one post', async () => {
    const { token } = await signIn('solo-yan');
    const key = randomToken();
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(token, { text: 'race' }, key)));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
  });
});

describe('resource API: delete', () => {
  it('deletes own posts only (403 otherwise); a deleted post is gone from the API and the timeline', async () => {
    const { token } = await signIn('solo-zoe');
    const other = await signIn('solo-abe');
    const made = (await post(token, { text: 'Soon gone' })).body;
    expect((await timeline('solo-zoe')).html).toContain('Soon gone');

    expectApiError(await call('DELETE', `/api/posts/${made.id}`, { token: other.token }), 403, 'access_denied');
    const noWrite = await signIn('solo-zoe', ['profile']);
    expectApiError(await call('DELETE', `/api/posts/${made.id}`, { token: noWrite.token }), 403, 'insufficient_scope');

    const deleted = await call('DELETE', `/api/posts/${made.id}`, { token });
    expect(deleted.status).toBe(204);
    expectApiError(await call('GET', `/api/posts/${made.id}`, { token }), 404, 'not_found');
    expectApiError(await call('DELETE', `/api/posts/${made.id}`, { token }), 404, 'not_found');
    expect((await timeline('solo-zoe')).html).not.toContain('Soon gone');
    expect((await fetch(`${t.url}/sandbox/@solo-zoe/posts/${made.id}`)).status).toBe(404);
    expectApiError(await post(token, { text: 'reply', reply_to: made.id }), 400, 'invalid_request');
  });
});

describe('resource API: faults', () => {
  it('api.posts faults hit posts only; api faults still hit every API route', async () => {
    const { token } = await signIn('solo-bea');
    faults.inject('api.posts', { status: 503, retryAfterSeconds: 9 });
    expect((await call('GET', '/api/me', { token })).status).toBe(200);
    const failed = await post(token, { text: 'x' });
    expectApiError(failed, 503, 'temporarily_unavailable');
    expect(failed.headers.get('retry-after')).toBe('9');
    expect((await post(token, { text: 'x' })).status).toBe(201);

    faults.inject('api', { status: 500, error: 'server_error' });
    expectApiError(await call('GET', '/api/me', { token }), 500, 'server_error');
    faults.inject('api', { status: 502 });
    expectApiError(await upload(token), 502, 'temporarily_unavailable');
  });

  it('a 429 carries Retry-After and x-rate-limit-reset (epoch seconds)', async () => {
    const { token } = await signIn('solo-cal');
    faults.inject('api.media', { status: 429, retryAfterSeconds: 30, resetInSeconds: 30 });
    const limited = await upload(token);
    expectApiError(limited, 429, 'rate_limit_exceeded');
    expect(limited.headers.get('retry-after')).toBe('30');
    const reset = Number(limited.headers.get('x-rate-limit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 31);
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
  });

  it('slow: the answer comes late but the request is served', async () => {
    const { token } = await signIn('solo-dan');
    faults.inject('api.posts', { delayMs: 200 });
    const res = await post(token, { text: 'late' });
    expect(res.status).toBe(201);
  });
});

describe('timeline', () => {
  it('shows a two-part thread with an image on /sandbox/@alice, the reply under its parent, with permalinks', async () => {
    const { token } = await signIn('alice');
    const image = (await upload(token)).body.id;
    const first = (await post(token, { text: 'Part one', media_ids: [image] })).body;
    const second = (await post(token, { text: 'Part two', reply_to: first.id })).body;

    const page = await timeline('alice');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    expect(page.html).not.toContain('<script');
    expect(page.html).toContain('@alice');
    expect(page.html).toContain(`<img src="/sandbox/media/${image}"`);
    // The reply is in the list of replies to its parent, not a post of its own at the top.
    expect(page.html).toMatch(new RegExp(`<article class="post" id="post-${first.id}">[\\s\\S]*?Part one[\\s\\S]*?</article><ol class="replies" data-replies-to="${first.id}"><li><article class="post" id="post-${second.id}">[\\s\\S]*?Part two`));
    expect(page.html).toContain(`href="/sandbox/@alice/posts/${first.id}"`);
    expect(page.html).toContain(`href="/sandbox/@alice/posts/${second.id}"`);

    const permalink = await fetch(`${t.url}/sandbox/@alice/posts/${second.id}`);
    expect(permalink.status).toBe(200);
    const one = await permalink.text();
    expect(one).toContain('Part two');
    expect(one).not.toContain('Part one');
    expect(one).toContain('Replying to');
    // The image the timeline shows is there to fetch.
    expect((await fetch(`${t.url}/sandbox/media/${image}`)).status).toBe(200);
  });

  it('lists newest first', async () => {
    const { token } = await signIn('solo-eve');
    await post(token, { text: 'older post' });
    await post(token, { text: 'newer post' });
    const { html } = await timeline('solo-eve');
    expect(html.indexOf('newer post')).toBeLessThan(html.indexOf('older post'));
  });

  it('escapes everything a post says', async () => {
    const { token } = await signIn('solo-fay');
    await post(token, { text: '<script>alert("x")</script> & <img src=x onerror=alert(1)>' });
    const { html } = await timeline('solo-fay');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#60;img src=x onerror=alert(1)&#62;');
  });

  it("shows a page's posts on the page's own timeline", async () => {
    const { pages } = await signIn('gus');
    await post(pages[0], { text: 'From the page' });
    const page = await timeline('gus-page-1');
    expect(page.status).toBe(200);
    expect(page.html).toContain('From the page');
    expect(page.html).toContain('Gus Page 1');
    expect((await timeline('gus')).html).not.toContain('From the page');
  });

  it('answers 404 for an unknown user, and an empty timeline for one who never posted', async () => {
    const unknown = await timeline('nobody-ever-signed-in');
    expect(unknown.status).toBe(404);
    expect(unknown.html).toContain('No such account');
    expect((await timeline('solo-fay-page-1')).status).toBe(404);
    expect((await timeline('%3Cscript%3E')).status).toBe(404);
    await signIn('solo-hal');
    const empty = await timeline('solo-hal');
    expect(empty.status).toBe(200);
    expect(empty.html).toContain('No posts yet');
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** A `PartInput` the way the engine builds one, recording what the adapter saved. */
function partInput(token: string, container: Partial<PublishContainer>, opts: { previous?: PublishedPart | null; root?: PublishedPart | null; saved?: SavedProgress } = {}) {
  const record = { beforeCreate: [] as SavedProgress[], saves: [] as SavedProgress[] };
  const input: PartInput = {
    app,
    accessToken: token,
    account: { networkUniqueId: 'x', username: null, accountType: 'personal', metadata: {} },
    options: {},
    container: { index: 0, text: '', media: [], ...container },
    root: opts.root ?? null,
    previous: opts.previous ?? null,
    saved: opts.saved ?? {},
    beforeCreate: async (saved) => void record.beforeCreate.push(saved),
    save: async (saved) => void record.saves.push(saved),
  };
  return { input, record };
}

async function publishError(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('adapter publishing', () => {
  it('declares the sandbox rules and its API for the proxy', () => {
    const rules = adapter.publishing!.rules;
    expect(rules.text).toEqual({ maxLength: 500, counting: 'graphemes' });
    expect(rules.media).toMatchObject({ maxItems: 4, mixKinds: false, image: { maxCount: 4, maxBytes: 5 * MB }, video: { maxCount: 1, maxBytes: 50 * MB, maxSeconds: 600 } });
    expect(rules.media.image!.contentTypes).toEqual(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
    expect(rules).toMatchObject({ laterContainers: 'replies', laterContainersMedia: true });
    expect(adapter.publishing!.createIsRepeatable).toBe(true);
    expect(adapter.api).toEqual({ origin: `${t.url}/sandbox` });
  });

  it('publishes a thread with media, finds each part by its key, and deletes them', async () => {
    const { token } = await signIn('ida');
    const media = [mediaFromBytes(PNG, { kind: 'image', contentType: 'image/png' }), mediaFromBytes(PNG, { kind: 'image', contentType: 'image/png' })];
    const one = partInput(token, { index: 0, text: 'Thread start', media });
    const outcome = await adapter.publishing!.publishPart(one.input);
    expect(outcome.status).toBe('published');
    const root = (outcome as { part: PublishedPart }).part;
    expect(root.url).toBe(`${t.url}/sandbox/@ida/posts/${root.id}`);
    // Uploads were saved as they were done, and the key was handed to beforeCreate before the post was made.
    expect(Object.keys(one.record.saves.at(-1)!.uploads as object)).toEqual(media.map((m) => m.id));
    expect(one.record.beforeCreate).toHaveLength(1);
    expect(one.record.beforeCreate[0].idempotencyKey).toEqual(expect.any(String));

    const two = partInput(token, { index: 1, text: 'Thread end', media: [mediaFromBytes(MP4, { kind: 'video', contentType: 'video/mp4' })] }, { root, previous: root });
    const reply = ((await adapter.publishing!.publishPart(two.input)) as { part: PublishedPart }).part;
    const read = await call('GET', `/api/posts/${reply.id}`, { token });
    expect(read.body).toMatchObject({ reply_to: root.id, text: 'Thread end', media: [{ content_type: 'video/mp4' }] });
    const first = await call('GET', `/api/posts/${root.id}`, { token });
    expect(first.body.media).toHaveLength(2);

    const html = (await timeline('ida')).html;
    expect(html).toMatch(new RegExp(`data-replies-to="${root.id}"><li><article class="post" id="post-${reply.id}"`));
    expect(html).toContain('<video controls');

    const found = await adapter.publishing!.findPart!({ ...one.input, saved: one.record.beforeCreate[0] });
    expect(found).toEqual(root);
    expect(await adapter.publishing!.findPart!({ ...one.input, saved: { idempotencyKey: 'never-sent' } })).toBe('absent');
    expect(await adapter.publishing!.findPart!({ ...one.input, saved: {} })).toBe('absent');

    await adapter.publishing!.deletePart!({ ...two.input, part: reply });
    await adapter.publishing!.deletePart!({ ...one.input, part: root });
    // Deleting what is already gone is done, not an error.
    await adapter.publishing!.deletePart!({ ...one.input, part: root });
    expect((await timeline('ida')).html).not.toContain('Thread start');
    expect(await adapter.publishing!.findPart!({ ...one.input, saved: one.record.beforeCreate[0] })).toBe('absent');
  });

  it('a repeat with the saved key answers the same post; uploads already done are not sent again', async () => {
    const { token } = await signIn('solo-jon');
    const media = [mediaFromBytes(PNG, { kind: 'image', contentType: 'image/png' })];
    faults.inject('api.posts', { status: 503 });
    const first = partInput(token, { text: 'Retried', media });
    const err = await publishError(adapter.publishing!.publishPart(first.input));
    expect(err.category).toBe('platform_error');
    const saved = first.record.beforeCreate[0];
    expect(saved.uploads).toEqual({ [media[0].id]: expect.any(String) });

    // An upload now would fail: the retry must reuse the saved one.
    faults.inject('api.media', { status: 500 });
    const retry = partInput(token, { text: 'Retried', media }, { saved });
    const part = ((await adapter.publishing!.publishPart(retry.input)) as { part: PublishedPart }).part;
    expect(retry.record.beforeCreate[0].idempotencyKey).toBe(saved.idempotencyKey);
    // And again (the worker died after sending): the same post, not a second one.
    const again = ((await adapter.publishing!.publishPart(partInput(token, { text: 'Retried', media }, { saved }).input)) as { part: PublishedPart }).part;
    expect(again).toEqual(part);
    expect((await timeline('solo-jon')).html.match(/<article /g)).toHaveLength(1);
  });

  it('a create whose answer never came is found by its key, and repeating it makes no second post', async () => {
    const { token } = await signIn('solo-kim');
    const impatient = createSandboxAdapter({
      publicUrl: t.url,
      upstream: new UpstreamClient({}, 300, { http: new OutboundHttp(new HostResolver(), true) }),
      app: adapter.builtInApp!,
    });
    faults.inject('api.posts', { delayMs: 1500 });
    const attempt = partInput(token, { text: 'Slow network' });
    const err = await impatient.publishing!.publishPart(attempt.input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).kind).toBe('transient');
    const saved = attempt.record.beforeCreate[0];

    let found: PublishedPart | FoundProcessing | 'absent' | 'unknown' = 'absent';
    for (let i = 0; i < 100 && found === 'absent'; i++) {
      found = await adapter.publishing!.findPart!({ ...attempt.input, saved });
      if (found === 'absent') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(found).toMatchObject({ id: expect.any(String), url: expect.stringContaining('/sandbox/@solo-kim/posts/') });
    const repeated = ((await adapter.publishing!.publishPart(partInput(token, { text: 'Slow network' }, { saved }).input)) as { part: PublishedPart }).part;
    expect(repeated).toEqual(found);
    expect((await timeline('solo-kim')).html.match(/<article /g)).toHaveLength(1);
  });

  it('classifies errors: 401 auth_expired, 403 permission_missing, 400 user_content, 429 rate_limited, 5xx platform_error', async () => {
    const { token } = await signIn('solo-lou');
    const text = (s: string) => partInput(token, { text: s }).input;

    const dead = await publishError(adapter.publishing!.publishPart(partInput('expired-or-revoked', { text: 'x' }).input));
    expect(dead).toMatchObject({ category: 'auth_expired', platformCode: 'invalid_token' });

    const readOnly = await signIn('solo-lou', ['profile']);
    const denied = await publishError(adapter.publishing!.publishPart(partInput(readOnly.token, { text: 'x' }).input));
    expect(denied).toMatchObject({ category: 'permission_missing', platformCode: 'insufficient_scope' });
    expect(denied.message).toContain('posts.write');
    // The same refusals while uploading media, answered before the file is read.
    const png = () => [mediaFromBytes(PNG, { kind: 'image', contentType: 'image/png' })];
    expect(await publishError(adapter.publishing!.publishPart(partInput('expired-or-revoked', { text: 'x', media: png() }).input))).toMatchObject({ category: 'auth_expired' });
    expect(await publishError(adapter.publishing!.publishPart(partInput(readOnly.token, { text: 'x', media: png() }).input))).toMatchObject({ category: 'permission_missing' });

    const tooLong = await publishError(adapter.publishing!.publishPart(text('a'.repeat(501))));
    expect(tooLong).toMatchObject({ category: 'user_content', platformCode: 'invalid_request' });
    expect(tooLong.message).toContain('500');

    const badMedia = await publishError(adapter.publishing!.publishPart(partInput(token, { text: 'x', media: [mediaFromBytes(Buffer.from('not a png'), { kind: 'image', contentType: 'image/png' })] }).input));
    expect(badMedia.category).toBe('user_content');

    faults.inject('api.posts', { status: 429, retryAfterSeconds: 42, resetInSeconds: 42 });
    expect(await publishError(adapter.publishing!.publishPart(text('x')))).toMatchObject({ category: 'rate_limited', retryAfterSeconds: 42, platformCode: 'rate_limit_exceeded' });
    // Only the reset time: the wait is counted from it.
    faults.inject('api.posts', { status: 429, resetInSeconds: 120 });
    const byReset = await publishError(adapter.publishing!.publishPart(text('x')));
    expect(byReset.category).toBe('rate_limited');
    expect(byReset.retryAfterSeconds).toBeGreaterThan(100);
    expect(byReset.retryAfterSeconds).toBeLessThanOrEqual(121);
    // Rate-limited uploads too.
    faults.inject('api.media', { status: 429 });
    const upload429 = await publishError(adapter.publishing!.publishPart(partInput(token, { text: 'x', media: [mediaFromBytes(PNG, { kind: 'image', contentType: 'image/png' })] }).input));
    expect(upload429).toMatchObject({ category: 'rate_limited', retryAfterSeconds: 60 });

    faults.inject('api.posts', { status: 503, retryAfterSeconds: 5, errorDescription: 'Sandbox maintenance' });
    expect(await publishError(adapter.publishing!.publishPart(text('x')))).toMatchObject({ category: 'platform_error', retryAfterSeconds: 5, message: 'Sandbox maintenance' });
    faults.inject('api.posts', { status: 500, error: 'server_error' });
    expect((await publishError(adapter.publishing!.findPart!({ ...text('x'), saved: { idempotencyKey: 'k' } }))).category).toBe('platform_error');

    // A reply to a post that is gone is the content's problem, in the sandbox's words.
    const gone = await publishError(adapter.publishing!.publishPart(partInput(token, { text: 'x' }, { previous: { id: 'deleted-post', url: null } }).input));
    expect(gone).toMatchObject({ category: 'user_content' });
    expect(gone.message).toContain('reply_to');

    const other = await signIn('solo-max');
    const theirs = (await post(other.token, { text: 'mine' })).body;
    const notOwn = await publishError(adapter.publishing!.deletePart!({ ...text('x'), part: { id: theirs.id, url: theirs.url } }));
    expect(notOwn).toMatchObject({ category: 'permission_missing', platformCode: 'access_denied' });
  });
});
