// The dashboard's Posts section over HTTP: composing (text, an uploaded file, accounts, now / at a time / draft)
// through the API's own function, the list and a post's page, retry and cancel — and what it refuses: a form
// without the session's CSRF token, another organization's post, and bad input, re-rendered with a clear message,
// what was typed kept, and nothing created.
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { media, posts } from '../src/db/schema.ts';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, resultParams } from './helpers/flow.ts';
import { makePng } from './helpers/media-fixtures.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const MAX_MEDIA_BYTES = 20_000;
let t: TestServer;
let accountId: string;
let browser: TestBrowser;
let csrf: string;

beforeAll(async () => {
  // No worker: a post made here stays as it was accepted, so what the forms did is what the test sees.
  t = await startTestServer({ SWITCHBOARD_MAX_MEDIA_BYTES: String(MAX_MEDIA_BYTES) });
  await configureSandbox(t);
  accountId = resultParams(await consent(new TestBrowser(), await authUrl(t), 'solo_dash')).get('account_id')!;
  browser = new TestBrowser();
  expect((await browser.request(`${t.url}/dashboard/login`, { form: { api_key: t.apiKey } })).status).toBe(303);
  csrf = /name="_csrf" value="([^"]+)"/.exec((await browser.request(`${t.url}/dashboard/posts/new`)).body)![1];
});

afterAll(async () => {
  await t?.close();
});

const postCount = async () => (await t.server.ctx.db.select({ n: count() }).from(posts))[0].n;
const mediaCount = async () => (await t.server.ctx.db.select({ n: count() }).from(media))[0].n;

type Entry = [string, string] | [string, Buffer, string];

/** The compose form as a browser sends it: multipart, in the order given (the token first, files last). */
async function compose(entries: Entry[], opts: { origin?: string } = {}) {
  const form = new FormData();
  for (const [name, value, filename] of entries) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value)], { type: 'application/octet-stream' }), filename);
  }
  const res = await fetch(`${t.url}/dashboard/posts/new`, {
    method: 'POST',
    headers: { cookie: browser.cookieHeader(), origin: opts.origin ?? t.url },
    body: form,
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location') ?? undefined, body: await res.text() };
}

const idFrom = (location: string | undefined) => /\/dashboard\/posts\/([^/?]+)/.exec(location ?? '')![1];
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString().slice(0, 16);

it('composes a post with an image: the file is stored and confirmed, the post made as the API makes it', async () => {
  const res = await compose([
    ['_csrf', csrf],
    ['text', 'Hello from the dashboard'],
    ['accounts', accountId],
    ['when', 'now'],
    ['alt', 'A blue square'],
    ['files', makePng(64, 48, { rgb: [30, 120, 200] }), 'blue.png'],
  ]);
  expect(res.status, res.body.slice(0, 500)).toBe(303);
  expect(res.location).toMatch(/\/dashboard\/posts\/[^/]+\?notice=published$/);
  const { body } = await t.api('GET', `/v1/posts/${idFrom(res.location)}`);
  expect(body.post.containers[0]).toMatchObject({ content: 'Hello from the dashboard', media: [{ content_type: 'image/png', filename: 'blue.png', alt: 'A blue square' }] });
  expect(body.post.socialAccounts.map((a: { id: string }) => a.id)).toEqual([accountId]);

  const list = await browser.request(`${t.url}/dashboard/posts`);
  expect(list.status).toBe(200);
  expect(list.body).toContain('Hello from the dashboard');
  expect(list.body).toContain('aria-current="page">Posts</a>');
  const page = await browser.request(`${t.url}/dashboard/posts/${body.post.id}`);
  expect(page.body).toContain('solo_dash');
  expect(page.body).toContain(`alt="A blue square"`);
});

it('schedules a post, then cancels it from its page; a draft needs no account', async () => {
  const res = await compose([['_csrf', csrf], ['text', 'Later'], ['accounts', accountId], ['when', 'schedule'], ['scheduled_at', inAnHour()]]);
  expect(res.status, res.body.slice(0, 500)).toBe(303);
  const id = idFrom(res.location);
  expect((await t.api('GET', `/v1/posts/${id}`)).body.post.status).toBe('scheduled');
  expect((await browser.request(`${t.url}/dashboard/posts/${id}`)).body).toContain('Cancel post');

  const cancelled = await browser.request(`${t.url}/dashboard/posts/${id}/cancel`, { form: { _csrf: csrf } });
  expect(cancelled.status).toBe(303);
  expect((await t.api('GET', `/v1/posts/${id}`)).body.post.status).toBe('cancelled');
  // Nothing failed, so there is nothing to retry: said plainly, nothing changes.
  const retry = await browser.request(`${t.url}/dashboard/posts/${id}/retry`, { form: { _csrf: csrf } });
  expect(retry.status).toBe(409);
  expect(retry.body).toContain('Nothing to retry');

  const draft = await compose([['_csrf', csrf], ['text', 'Just an idea'], ['when', 'draft']]);
  expect(draft.status, draft.body.slice(0, 500)).toBe(303);
  expect((await t.api('GET', `/v1/posts/${idFrom(draft.location)}`)).body.post).toMatchObject({ status: 'draft', socialAccounts: [] });
});

it('refuses a form without the session CSRF token, before storing any file', async () => {
  const before = { posts: await postCount(), media: await mediaCount() };
  const file: Entry = ['files', makePng(8, 8), 'x.png'];
  const missing = await compose([['text', 'Forged'], ['accounts', accountId], file]);
  expect(missing.status).toBe(403);
  expect(missing.body).toContain('not sent from your dashboard session');
  expect((await compose([['_csrf', 'wrong'], ['text', 'Forged'], ['accounts', accountId], file])).status).toBe(403);
  // The token must come first: one sent after the file is too late.
  expect((await compose([['text', 'Forged'], file, ['_csrf', csrf]])).status).toBe(403);
  // The same form without files, and the post actions, check it too.
  expect((await browser.request(`${t.url}/dashboard/posts/new`, { form: { _csrf: 'wrong', text: 'Forged', accounts: accountId } })).status).toBe(403);
  expect({ posts: await postCount(), media: await mediaCount() }).toEqual(before);

  const scheduled = await t.api('POST', '/v1/posts', { content: 'Keep me scheduled', accounts: [accountId], scheduledAt: new Date(Date.now() + 3600_000).toISOString() });
  expect((await browser.request(`${t.url}/dashboard/posts/${scheduled.body.post.id}/cancel`, { form: { _csrf: 'wrong' } })).status).toBe(403);
  expect((await browser.request(`${t.url}/dashboard/posts/${scheduled.body.post.id}/cancel`, { method: 'POST', form: {} })).status).toBe(403);
  // And a form from another site is refused whatever it carries.
  expect((await compose([['_csrf', csrf], ['text', 'Cross-site'], ['when', 'draft']], { origin: 'https://evil.example' })).status).toBe(403);
  expect((await t.api('GET', `/v1/posts/${scheduled.body.post.id}`)).body.post.status).toBe('scheduled');
  expect(await postCount()).toBe(before.posts + 1);
});

it("does not show, cancel or retry another organization's post", async () => {
  const other = await t.api('POST', '/v1/organizations', { name: 'Other org' });
  expect(other.status, JSON.stringify(other.body)).toBe(201);
  const theirKey = other.body.data.api_key;
  const theirs = await t.api('POST', '/v1/posts', { content: 'Their private draft', isDraft: true }, theirKey);
  expect(theirs.status, JSON.stringify(theirs.body)).toBe(201);
  const id = theirs.body.post.id;

  const page = await browser.request(`${t.url}/dashboard/posts/${id}`);
  expect(page.status).toBe(404);
  expect(page.body).toContain('Post not found');
  expect(page.body).not.toContain('Their private draft');
  expect((await browser.request(`${t.url}/dashboard/posts/${id}/cancel`, { form: { _csrf: csrf } })).status).toBe(404);
  expect((await browser.request(`${t.url}/dashboard/posts/${id}/retry`, { form: { _csrf: csrf } })).status).toBe(404);
  expect((await browser.request(`${t.url}/dashboard/posts`)).body).not.toContain('Their private draft');
  expect((await t.api('GET', `/v1/posts/${id}`, undefined, theirKey)).body.post.status).toBe('draft');
});

it('re-renders bad input with a clear message and what was typed, and creates nothing', async () => {
  const before = { posts: await postCount(), media: await mediaCount() };
  const past = await compose([['_csrf', csrf], ['text', 'Keep what I typed'], ['accounts', accountId], ['when', 'schedule'], ['scheduled_at', '2020-01-01T10:00']]);
  expect(past.status).toBe(400);
  expect(past.body).toContain('Date and time: must be in the future (times are UTC).');
  expect(past.body).toContain('>Keep what I typed</textarea>');
  expect(past.body).toContain(`value="${accountId}" checked`);
  expect(past.body).toContain('value="2020-01-01T10:00"');

  const noAccount = await compose([['_csrf', csrf], ['text', 'To nobody'], ['when', 'now']]);
  expect(noAccount.status).toBe(400);
  expect(noAccount.body).toContain('Accounts: choose at least one account, or save the post as a draft.');

  const nothing = await compose([['_csrf', csrf], ['text', '  '], ['accounts', accountId]]);
  expect(nothing.status).toBe(400);
  expect(nothing.body).toContain('Text: write something, or attach an image or video.');

  // Preflight's refusal, per account, in plain words.
  const long = 'a'.repeat(501);
  const tooLong = await compose([['_csrf', csrf], ['text', long], ['accounts', accountId]]);
  expect(tooLong.status).toBe(400);
  expect(tooLong.body).toMatch(/Solo_dash \(Sandbox\): The text is 501 characters long; Sandbox takes at most 500\./);
  expect(tooLong.body).toContain(`id="problem-${accountId}"`);
  expect(tooLong.body).toContain(`>${long}</textarea>`);

  const notAnImage = await compose([['_csrf', csrf], ['text', 'With a broken file'], ['accounts', accountId], ['files', Buffer.from('just some text, not a picture'), 'photo.png']]);
  expect(notAnImage.status).toBe(400);
  expect(notAnImage.body).toMatch(/photo\.png: [^<]+/);
  expect(notAnImage.body).toContain('>With a broken file</textarea>');

  const big = await compose([['_csrf', csrf], ['text', 'With a big file'], ['accounts', accountId], ['files', makePng(8, 8, { padTo: MAX_MEDIA_BYTES + 5000 }), 'big.png']]);
  expect(big.status).toBe(400);
  expect(big.body).toContain(`big.png: The most this installation accepts is ${MAX_MEDIA_BYTES} bytes`);

  // Multipart fields do not pass the server's body checks: the form's own schema refuses what could not be stored.
  const nulText = await compose([['_csrf', csrf], ['text', 'a\u0000b'], ['accounts', accountId]]);
  expect(nulText.status).toBe(400);
  expect(nulText.body).toContain('Text: must not contain a NUL character.');
  const badAccount = await compose([['_csrf', csrf], ['text', 'To a forged id'], ['accounts', 'x\u0000y'], ['media', 'nope\u0000']]);
  expect(badAccount.status).toBe(400);
  expect(badAccount.body).toContain('Accounts: one of them is not an account of this list.');
  const gone = await compose([['_csrf', csrf], ['text', 'With a file that is gone'], ['accounts', accountId], ['media', '0'.repeat(24)]]);
  expect(gone.status).toBe(400);
  expect(gone.body).toContain('Attached files: one of them is no longer available; attach it again.');
  const nul = await browser.request(`${t.url}/dashboard/posts/new`, { form: { _csrf: csrf, text: 'a\u0000b', accounts: accountId } });
  expect(nul.status).toBe(400);
  expect({ posts: await postCount(), media: await mediaCount() }).toEqual(before);
});

it('keeps an uploaded file attached when preflight refuses the post, and uses it when the form is sent again', async () => {
  const refused = await compose([['_csrf', csrf], ['text', 'b'.repeat(501)], ['accounts', accountId], ['files', makePng(16, 16), 'kept.png']]);
  expect(refused.status).toBe(400);
  const mediaId = new RegExp(`name="media" value="([^"]+)" checked> kept\\.png`).exec(refused.body)?.[1];
  expect(mediaId, refused.body.slice(0, 2000)).toBeDefined();
  const before = await postCount();
  expect(await postCount()).toBe(before);

  const again = await compose([['_csrf', csrf], ['text', 'Shorter now'], ['accounts', accountId], ['media', mediaId!]]);
  expect(again.status, again.body.slice(0, 500)).toBe(303);
  const { body } = await t.api('GET', `/v1/posts/${idFrom(again.location)}`);
  expect(body.post.containers[0].media.map((m: { id: string }) => m.id)).toEqual([mediaId]);
});
