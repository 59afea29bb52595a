// Facebook publishing, the adapter against the Meta emulator (Require App Secret on): text and link posts, one
// photo, several photos in one post, a video by the Resumable Upload API (resumed after a cut, then processed),
// comments as later containers, every Graph error the adapter classifies, finding a part after an unknown outcome,
// deleting, and the proxy's way of applying the token; then a post with a comment through POST /v1/posts, published
// by the worker and deleted by DELETE /v1/posts/{id}/remote.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFacebookAdapter } from '../../src/providers/facebook/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import {
  NetworkError,
  PublishError,
  type NetworkAdapter,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
  type SavedProgress,
} from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { appSecretProof, metaFailures, metaUpstreams, startMetaEmulator, type InjectedAnswer, type MetaEmulator } from '../emulators/meta.ts';

const APP = { id: '710000000000001', secret: 'facebook-app-secret' };
const PAGE = 'alice-page';
const app = { clientId: APP.id, clientSecret: APP.secret, scopes: [], options: {} };
const account = { networkUniqueId: PAGE, username: 'alicepage', accountType: 'page' as const, metadata: { pageId: PAGE, userId: 'alice' } };

let meta: MetaEmulator;
let adapter: NetworkAdapter;
let token: string;

beforeAll(async () => {
  meta = await startMetaEmulator({
    facebookApp: APP,
    instagramApp: { id: '990000000000001', secret: 'instagram-app-secret' },
    facebookUsers: [{ id: 'alice', name: 'Alice Example', appRole: true, pages: [{ id: PAGE, name: 'Alice Page', username: 'alicepage' }, { id: 'other-page', name: 'Other Page' }] }],
    instagramUsers: [],
  });
  const upstream = new UpstreamClient(metaUpstreams(meta), 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createFacebookAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v26.0' } });
  token = meta.issuePageToken('alice', PAGE);
});
afterAll(async () => {
  await meta?.close();
});
beforeEach(() => {
  meta.pages.settings.videoReadsUntilDone = 1;
  meta.pages.settings.videoOutcome = 'ready';
});

const jpeg = (size = 2048) => mediaFromBytes(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size)]), { kind: 'image', contentType: 'image/jpeg' });
const png = () => mediaFromBytes(Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(1024)]), { kind: 'image', contentType: 'image/png' });
const mp4Bytes = (size: number) => Buffer.concat([Buffer.from('000000186674797069736f6d', 'hex'), randomBytes(size - 12)]);
const mp4 = (bytes: Buffer) => mediaFromBytes(bytes, { kind: 'video', contentType: 'video/mp4', filename: 'clip.mp4', durationSeconds: 12 });
const unique = (words: string) => `${words} ${randomBytes(4).toString('hex')}`;

/** One call of publishPart as the engine makes it, recording what the adapter saved and when it was about to create. */
function partCall(container: PublishContainer, opts: { root?: PublishedPart; saved?: SavedProgress; accessToken?: string; options?: Record<string, unknown> } = {}) {
  const record = { beforeCreate: [] as SavedProgress[], saved: [] as SavedProgress[], feedAtBeforeCreate: -1 };
  const input: PartInput = {
    app,
    accessToken: opts.accessToken ?? token,
    account,
    options: opts.options ?? {},
    container,
    root: opts.root ?? null,
    previous: opts.root ?? null,
    saved: opts.saved ?? {},
    async beforeCreate(saved) {
      record.beforeCreate.push(saved);
      record.feedAtBeforeCreate = meta.feedOf(PAGE).length;
    },
    async save(saved) {
      record.saved.push(saved);
    },
  };
  return { input, record, run: () => adapter.publishing!.publishPart(input) };
}

const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });

async function published(outcome: Promise<PartOutcome>): Promise<PublishedPart> {
  const result = await outcome;
  expect(result.status).toBe('published');
  return (result as Extract<PartOutcome, { status: 'published' }>).part;
}

async function publishError(outcome: Promise<unknown>): Promise<PublishError> {
  const err = await outcome.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a PublishError').toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('posts', () => {
  it('publishes a text post to the Page feed with the Page token and its proof, telling the engine just before', async () => {
    const text = unique('Hello from Switchboard 👋');
    const before = meta.feedOf(PAGE).length;
    const calls = meta.state.calls.length;
    const { run, record } = partCall(container(text));
    const part = await published(run());

    const [post] = meta.feedOf(PAGE);
    expect(post).toMatchObject({ kind: 'status', message: text });
    expect(part.id).toBe(post.id);
    expect(part.id).toMatch(new RegExp(`^${PAGE}_\\d+$`));
    expect(part.url).toBe(`https://www.facebook.com/${PAGE}/posts/${post.id.split('_')[1]}`);
    // beforeCreate came once, with the time findPart needs, while the post did not exist yet.
    expect(record.beforeCreate).toHaveLength(1);
    expect(record.beforeCreate[0].startedAt).toEqual(expect.any(Number));
    expect(record.feedAtBeforeCreate).toBe(before);
    const create = meta.state.calls.slice(calls).find((c) => c.method === 'POST' && c.path === `/v26.0/${PAGE}/feed`)!;
    expect(create.authorization).toBe(`Bearer ${token}`);
    expect(create.query.appsecret_proof).toBe(appSecretProof(token, APP.secret));
  });

  it('attaches a link given in the Facebook options', async () => {
    const text = unique('Read this');
    await published(partCall(container(text), { options: { link: 'https://example.com/article' } }).run());
    expect(meta.feedOf(PAGE)[0]).toMatchObject({ message: text, link: 'https://example.com/article' });
  });

  it('publishes one photo with its caption in a single request', async () => {
    const text = unique('One photo');
    const photo = jpeg();
    const { run, record } = partCall(container(text, [photo]));
    const part = await published(run());
    const [post] = meta.feedOf(PAGE);
    expect(post).toMatchObject({ kind: 'photo', message: text });
    expect(post.photoIds).toHaveLength(1);
    expect(meta.pages.photos.get(post.photoIds[0])).toMatchObject({ published: true, bytes: photo.size });
    expect(part).toMatchObject({ id: post.id, data: { photoId: post.photoIds[0] } });
    expect(record.beforeCreate).toHaveLength(1);
  });

  it('publishes several photos as one post, and a comment with an image as the second container', async () => {
    const text = unique('Three photos');
    const media = [jpeg(), png(), jpeg()];
    const first = partCall(container(text, media));
    // The post fails once, after the photos are up: the retry reuses them instead of uploading again.
    meta.failNext('facebook-feed', metaFailures.rateLimited(4));
    const err = await publishError(first.run());
    expect(err.category).toBe('rate_limited');
    const uploaded = first.record.saved.at(-1)!.photos as Record<string, string>;
    expect(Object.keys(uploaded)).toEqual(media.map((m) => m.id));
    for (const id of Object.values(uploaded)) {
      expect(meta.pages.photos.get(id)!.published).toBe(false);
      expect(meta.pages.photos.get(id)!.attachedTo).toBeUndefined();
    }
    const photoCount = meta.pages.photos.size;

    const retry = partCall(container(text, media), { saved: first.record.saved.at(-1) });
    const root = await published(retry.run());
    expect(meta.pages.photos.size).toBe(photoCount);
    const post = meta.pages.posts.get(root.id)!;
    expect(post).toMatchObject({ kind: 'photo', message: text, photoIds: media.map((m) => uploaded[m.id]) });
    for (const id of post.photoIds) expect(meta.pages.photos.get(id)!.attachedTo).toBe(post.id);

    const second = partCall(container('And a comment', [jpeg(512)], 1), { root });
    const comment = await published(second.run());
    expect(meta.pages.comments.get(comment.id)).toMatchObject({ objectId: root.id, pageId: PAGE, message: 'And a comment', imageBytes: 516 });
    expect(comment.url).toBe(`https://www.facebook.com/${root.id}?comment_id=${comment.id}`);
    expect(second.record.beforeCreate).toHaveLength(1);

    // Facebook attaches an unpublished photo once: the same progress cannot make a second post with it.
    const again = await publishError(partCall(container(unique('Again'), media), { saved: first.record.saved.at(-1) }).run());
    expect(again.category).toBe('user_content');
  });
});

describe('video', () => {
  it('uploads by the Resumable Upload API, resumes after a cut, publishes on graph-video and waits for processing', async () => {
    const bytes = mp4Bytes(3 * 1024 * 1024 + 17);
    const media = mp4(bytes);
    const text = unique('Our video');
    meta.pages.settings.cutNextUploadAt = 1024 * 1024;

    const first = partCall(container(text, [media]));
    const cut = await first.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    // A broken connection is a transport failure, before anything was created: the engine tries again.
    expect(cut).toBeInstanceOf(NetworkError);
    expect(first.record.beforeCreate).toHaveLength(0);
    const progress = first.record.saved.at(-1)!;
    const sessionId = String((progress.upload as { session: string }).session).split('?')[0];
    expect(meta.pages.sessions.get(sessionId)).toMatchObject({ fileLength: bytes.length, fileType: 'video/mp4', fileName: 'clip.mp4', received: 1024 * 1024 });

    const calls = meta.state.calls.length;
    const second = partCall(container(text, [media]), { saved: progress });
    const outcome = await second.run();
    expect(outcome.status).toBe('processing');
    const session = meta.pages.sessions.get(sessionId)!;
    expect(Buffer.concat(session.chunks).equals(bytes)).toBe(true);
    const transfer = meta.state.calls.slice(calls).find((c) => c.method === 'POST' && c.path === `/v26.0/${sessionId}`)!;
    expect(transfer.authorization).toBe(`OAuth ${token}`);
    expect(second.record.beforeCreate).toHaveLength(1);
    const saved = (outcome as Extract<PartOutcome, { status: 'processing' }>).saved;
    const video = meta.pages.videos.get(saved.videoId as string)!;
    expect(video).toMatchObject({ pageId: PAGE, description: text });

    // Not in the feed, and not commentable, while Facebook processes it.
    const polled = await partCall(container(text, [media]), { saved }).run();
    expect(polled.status).toBe('processing');
    expect(meta.feedOf(PAGE).some((p) => p.videoId === video.id)).toBe(false);
    const early = await publishError(partCall(container('Too early', [], 1), { root: { id: video.id, url: null } }).run());
    expect(early.category).toBe('user_content');

    const part = await published(partCall(container(text, [media]), { saved }).run());
    expect(part).toEqual({ id: video.id, url: `https://www.facebook.com/${PAGE}/videos/${video.id}/` });
    expect(meta.feedOf(PAGE)[0]).toMatchObject({ kind: 'video', videoId: video.id, message: text });
    const comment = await published(partCall(container('Comment under the video', [], 1), { root: part }).run());
    expect(meta.pages.comments.get(comment.id)).toMatchObject({ objectId: video.id, message: 'Comment under the video' });
  });

  it('fails the part in Facebook-side words when processing fails', async () => {
    meta.pages.settings.videoReadsUntilDone = 0;
    meta.pages.settings.videoOutcome = 'error';
    const media = mp4(mp4Bytes(64 * 1024));
    const started = await partCall(container('Broken video', [media])).run();
    expect(started.status).toBe('processing');
    const err = await publishError(partCall(container('Broken video', [media]), { saved: (started as Extract<PartOutcome, { status: 'processing' }>).saved }).run());
    expect(err.category).toBe('user_content');
    expect(err.message).toContain('corrupt or in an unsupported format');
  });
});

describe('errors', () => {
  const cases: Array<[string, () => InjectedAnswer, string, number | undefined]> = [
    ['190/463 expired token', metaFailures.tokenExpired, 'auth_expired', undefined],
    ['190/460 password changed', metaFailures.passwordChanged, 'auth_expired', undefined],
    ['190/467 logged out', metaFailures.loggedOut, 'auth_expired', undefined],
    ['10 permission', metaFailures.permissionsError, 'permission_missing', undefined],
    ['200 permission', metaFailures.missingPermission, 'permission_missing', undefined],
    ['1404078 Page Publishing Authorization', metaFailures.pagePublishingAuthorization, 'permission_missing', undefined],
    ['4 app limit (Retry-After)', () => metaFailures.rateLimited(4), 'rate_limited', 120],
    ['17 user limit', () => metaFailures.rateLimited(17), 'rate_limited', 120],
    ['32 Page limit', () => metaFailures.rateLimited(32), 'rate_limited', 120],
    ['613 custom limit', () => metaFailures.rateLimited(613), 'rate_limited', 120],
    ['80001 Pages BUC (estimated_time_to_regain_access)', () => metaFailures.businessUseCaseThrottled(80001, 7), 'rate_limited', 420],
    ['368/1390008 posting too fast', metaFailures.postingTooFast, 'rate_limited', undefined],
    ['368 blocked', metaFailures.spam, 'platform_rejected', undefined],
    ['506 duplicate status', metaFailures.duplicateStatus, 'duplicate', undefined],
    ['1366051 duplicate photos', metaFailures.duplicatePhotos, 'duplicate', undefined],
    ['1366046 photo too large', metaFailures.photoTooLarge, 'user_content', undefined],
    ['100 invalid parameter', metaFailures.invalidParameter, 'user_content', undefined],
    ['2 with HTTP 500', metaFailures.serverError, 'platform_error', undefined],
    ['1 unknown error', metaFailures.unknownError, 'platform_error', undefined],
  ];
  for (const [name, answer, category, retryAfter] of cases) {
    it(`${name} → ${category}`, async () => {
      meta.failNext('facebook-feed', answer());
      const err = await publishError(partCall(container(unique('Refused'))).run());
      expect(err.category).toBe(category);
      expect(err.retryAfterSeconds).toBe(retryAfter);
      expect(err.message).toMatch(/^.*Facebook said: /);
      expect(err.platformCode).toMatch(/^\d+(\/\d+)?$/);
    });
  }

  it('the same status twice in a row is a duplicate (Graph 506)', async () => {
    const text = unique('Said once');
    await published(partCall(container(text)).run());
    const err = await publishError(partCall(container(text)).run());
    expect(err).toMatchObject({ category: 'duplicate', platformCode: '506' });
  });

  it('a user token cannot publish to a Page', async () => {
    const err = await publishError(partCall(container(unique('As a person')), { accessToken: meta.issueUserToken('alice') }).run());
    expect(err).toMatchObject({ category: 'permission_missing', platformCode: '200' });
  });

  it('commenting needs pages_manage_engagement', async () => {
    const root = await published(partCall(container(unique('Root'))).run());
    const limited = meta.issuePageToken('alice', PAGE, ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts']);
    const err = await publishError(partCall(container('A comment', [], 1), { root, accessToken: limited }).run());
    expect(err.category).toBe('permission_missing');
    expect(err.message).toContain('pages_manage_engagement');
  });

  it('a proof made with another app secret is the app configuration, not the content', async () => {
    const err = await publishError(
      adapter.publishing!.publishPart({ ...partCall(container(unique('Wrong secret'))).input, app: { ...app, clientSecret: 'not-the-secret' } }),
    );
    expect(err.category).toBe('app_not_approved');
  });

  it('classifies refusals of every publishing call, not only the feed (a photo upload here)', async () => {
    meta.failNext('facebook-photos', metaFailures.passwordChanged());
    const err = await publishError(partCall(container(unique('Photo'), [jpeg()])).run());
    expect(err).toMatchObject({ category: 'auth_expired', platformCode: '190/460' });
    expect(err.message).toContain('the password was changed');
  });
});

describe('finding a part after an unknown outcome', () => {
  const find = (input: PartInput) => adapter.publishing!.findPart!(input);

  it('finds a post that was made, by its text and time', async () => {
    const { input, run, record } = partCall(container(unique('Did it go out?')));
    const part = await published(run());
    const found = await find({ ...input, saved: record.beforeCreate[0] });
    expect(found).toMatchObject({ id: part.id, url: part.url });
  });

  it('says absent when the create never reached Facebook', async () => {
    const { input, run, record } = partCall(container(unique('Never made')));
    meta.failNext('facebook-feed', metaFailures.serverError());
    await publishError(run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('absent');
  });

  it('says unknown when the same text went out twice since the attempt', async () => {
    const text = unique('Twice');
    const { input, run, record } = partCall(container(text));
    await published(run());
    await published(partCall(container(unique('In between'))).run());
    await published(partCall(container(text)).run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('unknown');
  });

  it('says unknown without the time saved before the create', async () => {
    expect(await find(partCall(container('No progress')).input)).toBe('unknown');
  });

  it('finds a comment under the post', async () => {
    const root = await published(partCall(container(unique('Root for comments'))).run());
    const { input, run, record } = partCall(container('Comment to find', [], 1), { root });
    const comment = await published(run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toMatchObject({ id: comment.id });
    const other = partCall(container('Comment never made', [], 1), { root });
    expect(await find({ ...other.input, saved: { startedAt: Date.now() } })).toBe('absent');
  });

  it('says unknown for a video not yet in the feed', async () => {
    meta.pages.settings.videoReadsUntilDone = 5;
    const media = mp4(mp4Bytes(32 * 1024));
    const { input, run, record } = partCall(container(unique('Processing video'), [media]));
    expect((await run()).status).toBe('processing');
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('unknown');
  });
});

describe('deleting', () => {
  it('deletes a post and a comment, and one already gone counts as deleted', async () => {
    const root = await published(partCall(container(unique('To delete'))).run());
    const comment = await published(partCall(container('Comment to delete', [], 1), { root }).run());
    const remove = (part: PublishedPart, accessToken = token) => adapter.publishing!.deletePart!({ app, accessToken, account, options: {}, part });
    await remove(comment);
    expect(meta.pages.comments.get(comment.id)!.deleted).toBe(true);
    await remove(root);
    expect(meta.pages.posts.get(root.id)!.deleted).toBe(true);
    await expect(remove(root)).resolves.toBeUndefined();
  });

  it('needs pages_manage_posts', async () => {
    const root = await published(partCall(container(unique('Kept'))).run());
    const readOnly = meta.issuePageToken('alice', PAGE, ['pages_show_list', 'pages_read_engagement']);
    const err = await publishError(adapter.publishing!.deletePart!({ app, accessToken: readOnly, account, options: {}, part: root }));
    expect(err.category).toBe('permission_missing');
    expect(meta.pages.posts.get(root.id)!.deleted).toBe(false);
  });
});

describe('rules and the proxy', () => {
  it('declares Facebook’s limits and refuses what a Page post or comment cannot carry', () => {
    const publishing = adapter.publishing!;
    expect(publishing.rules).toMatchObject({ text: { maxLength: 63_206, counting: 'utf16' }, laterContainers: 'comments', media: { maxItems: 10, mixKinds: false } });
    expect(publishing.rules.media.video).toMatchObject({ maxCount: 1, contentTypes: ['video/mp4'] });
    expect(publishing.rules.media.image).toMatchObject({ maxCount: 10, maxBytes: 4 * 1024 * 1024 });
    const problems = publishing.check!({ containers: [container('x', [jpeg()]), container('y', [jpeg(), jpeg()], 1)], options: { link: 'https://example.com' }, account });
    expect(problems).toEqual(['Facebook attaches a link only to a post without photos or a video', 'part 2: a Facebook comment takes one image at most']);
    expect(publishing.optionsSchema!.safeParse({ link: 'ftp://example.com' }).success).toBe(false);
    expect(publishing.optionsSchema!.safeParse({ lnk: 'https://example.com' }).success).toBe(false);
  });

  it('calls graph.facebook.com with the token and its proof as query parameters', async () => {
    const api = adapter.api!;
    expect(api.origin).toBe('https://graph.facebook.com');
    const { query } = api.authorize!({ accessToken: token, app });
    expect(query).toEqual({ access_token: token, appsecret_proof: appSecretProof(token, APP.secret) });
    const res = await fetch(`${meta.origin}/v26.0/me?${new URLSearchParams(query)}`);
    expect(await res.json()).toMatchObject({ id: PAGE });
  });
});

describe('through our API', () => {
  let t: TestServer;
  let accountId: string;

  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(metaUpstreams(meta)) }, { worker: true });
    meta.allowRedirectUri(`${t.url}/oauth/facebook/callback`);
    await configureNetwork(t, 'facebook', { client_key: APP.id, client_secret: APP.secret });
    meta.signInFacebook('alice');
    const params = resultOf(await connectThroughBrowser(t, 'facebook', { tenant_id: 'tenant-alice', selection: 'headless' }));
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: [PAGE] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    accountId = done.body.connectedAccounts[0].id;
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The post once every target is done (the worker publishes in the background). */
  const settled = (id: string) => settledPost(t, id, 200);

  it('publishes a post with a comment through POST /v1/posts, shows its ids and URL, and deletes it at Facebook', async () => {
    const text = unique('Posted through Switchboard');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: text }, { content: 'The first comment' }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status).toBe('published');

    const feedPost = meta.feedOf(PAGE).find((p) => p.message === text)!;
    const comment = [...meta.pages.comments.values()].find((c) => c.objectId === feedPost.id)!;
    expect(comment).toMatchObject({ message: 'The first comment', pageId: PAGE });
    const [target] = post.socialAccounts;
    expect(target).toMatchObject({
      id: accountId,
      network: 'facebook',
      status: 'published',
      platformPostId: feedPost.id,
      platformPostUrl: `https://www.facebook.com/${PAGE}/posts/${feedPost.id.split('_')[1]}`,
      platformPostIds: [feedPost.id, comment.id],
    });

    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(meta.pages.posts.get(feedPost.id)!.deleted).toBe(true);
    expect(meta.pages.comments.get(comment.id)!.deleted).toBe(true);
  });

  it('fails the target in Facebook’s words when Facebook blocks the post', async () => {
    meta.failNext('facebook-feed', metaFailures.spam());
    const created = await t.api('POST', '/v1/posts', { content: unique('Blocked'), accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status).toBe('failed');
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'platform_rejected' });
    expect(post.socialAccounts[0].error).toContain('going too fast');
  });

  it('calls Graph directly through the proxy with the Page token and its proof', async () => {
    const calls = meta.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/v26.0/me?fields=id,name`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ id: PAGE, name: 'Alice Page' });
    const call = meta.state.calls.slice(calls).find((c) => c.path === '/v26.0/me')!;
    expect(call.query.appsecret_proof).toBe(appSecretProof(call.query.access_token, APP.secret));
    expect(call.query.fields).toBe('id,name');
  });

  it('refuses at preflight what a Facebook post cannot carry', async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'x'.repeat(63_207), accounts: [accountId] });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.details)).toContain('Facebook takes at most 63206');
  });
});
