// Threads publishing, the adapter against the Threads emulator: text, image (with alt text), video processed across
// calls, carousels of images and videos, a thread's later posts as replies with reply control, link attachment and
// topic tag, the 24-hour caps read before publishing, every error the adapter classifies (Graph codes and container
// error messages), finding a part after a lost answer by its container's status, deleting, metrics and publishing
// options; then through our API: POST /v1/posts (a thread, and an uploaded image Threads fetches from PUBLIC_URL),
// Ocoya's POST /post, metrics, publishing options, the proxy and preflight refusals.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createThreadsAdapter } from '../../src/providers/threads/index.ts';
import { threadsTextLength } from '../../src/providers/threads/publishing.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { PublishError, type NetworkAdapter, type PartInput, type PartOutcome, type PublishContainer, type PublishedPart, type PublishMedia, type SavedProgress } from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { makeJpeg, makeMp4, makePng } from '../helpers/media-fixtures.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { graphError } from '../emulators/meta.ts';
import { startThreadsEmulator, threadsFailures, type ThreadsEmulator } from '../emulators/threads.ts';

const APP = { id: '1290000000000002', secret: 'threads-app-secret' };
const ALL_SCOPES = ['threads_basic', 'threads_content_publish', 'threads_manage_replies', 'threads_read_replies', 'threads_manage_insights', 'threads_delete'];
const USERS = ['ada', 'ben', 'cleo'].map((name, i) => ({ id: String(27_000_000_000_000_000n + BigInt(i)), username: `${name}.threads`, name: name.toUpperCase() }));
const ADA = USERS[0];
const app = { clientId: APP.id, clientSecret: APP.secret, scopes: ALL_SCOPES, options: {} };
const account = { networkUniqueId: ADA.id, username: ADA.username, accountType: 'personal' as const, metadata: {} };

let th: ThreadsEmulator;
let adapter: NetworkAdapter;
let token: string;
/** Serves the test's media bytes by URL, as PUBLIC_URL does for Threads to fetch. */
let files: Server;
const served = new Map<string, Buffer>();
let filesOrigin: string;

beforeAll(async () => {
  th = await startThreadsEmulator({ app: APP, users: USERS });
  const upstream = new UpstreamClient(th.upstreams, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createThreadsAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v26.0' } });
  token = th.issueToken(ADA.id, ALL_SCOPES);
  files = createServer((req, res) => {
    const bytes = served.get(req.url ?? '');
    if (!bytes) return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => files?.close(resolve));
  await th?.close();
});
beforeEach(() => {
  th.settings.readsUntilDone = { TEXT: 0, IMAGE: 0, VIDEO: 2, CAROUSEL: 0 };
  th.settings.postQuota = 250;
  th.settings.replyQuota = 1000;
});

function file(bytes: Buffer, facts: Parameters<typeof mediaFromBytes>[1]): PublishMedia {
  const path = `/m/${randomBytes(8).toString('hex')}`;
  served.set(path, bytes);
  return mediaFromBytes(bytes, { ...facts, url: `${filesOrigin}${path}` });
}
const jpeg = (alt?: string) => file(makeJpeg(64, 48), { kind: 'image', contentType: 'image/jpeg', width: 64, height: 48, alt });
const png = () => file(makePng(32, 32), { kind: 'image', contentType: 'image/png', width: 32, height: 32 });
const mp4 = () => file(makeMp4({ width: 64, height: 64, durationSeconds: 2 }), { kind: 'video', contentType: 'video/mp4', filename: 'clip.mp4', durationSeconds: 2, width: 64, height: 64 });
const unreachable = (kind: 'image' | 'video') =>
  mediaFromBytes(Buffer.alloc(16), { kind, contentType: kind === 'image' ? 'image/jpeg' : 'video/mp4', url: `${filesOrigin}/m/never-served` });
const unique = (words: string) => `${words} ${randomBytes(4).toString('hex')}`;
const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });

/** One call of publishPart as the engine makes it, recording what the adapter kept and when it was about to publish. */
function partCall(part: PublishContainer, opts: { previous?: PublishedPart; root?: PublishedPart; saved?: SavedProgress; accessToken?: string; options?: Record<string, unknown> } = {}) {
  const record = { beforeCreate: [] as SavedProgress[], saved: [] as SavedProgress[], postsAtBeforeCreate: -1 };
  const input: PartInput = {
    app,
    accessToken: opts.accessToken ?? token,
    account,
    options: opts.options ?? {},
    container: part,
    root: opts.root ?? opts.previous ?? null,
    previous: opts.previous ?? null,
    saved: opts.saved ?? {},
    async beforeCreate(saved) {
      record.beforeCreate.push(saved);
      record.postsAtBeforeCreate = th.postsOf(ADA.id).length;
    },
    async save(saved) {
      record.saved.push(saved);
    },
  };
  return { input, record, run: () => adapter.publishing!.publishPart(input) };
}

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

const lastPost = () => th.postsOf(ADA.id)[0];
const containerOf = (id: string) => th.containers.get(id)!;

describe('posts', () => {
  it('publishes a text post: a TEXT container, its status, then threads_publish, telling the engine just before', async () => {
    const text = unique('Hello from Switchboard 👋');
    const before = th.postsOf(ADA.id).length;
    const calls = th.state.calls.length;
    const { run, record } = partCall(container(text));
    const part = await published(run());

    const post = lastPost();
    expect(post).toMatchObject({ text, mediaType: 'TEXT_POST', replyControl: 'everyone' });
    expect(part).toEqual({ id: post.id, url: `https://www.threads.com/@ada.threads/post/${post.shortcode}` });
    // The container is not the post: its id went to threads_publish, the post's id came back.
    expect(post.containerId).not.toBe(post.id);
    expect(record.beforeCreate).toEqual([{ container: post.containerId, checks: 0, startedAt: expect.any(Number) }]);
    expect(record.postsAtBeforeCreate).toBe(before);
    const mine = th.state.calls.slice(calls);
    expect(mine.map((c) => `${c.method} ${c.path}`)).toEqual([
      `GET /v1.0/${ADA.id}/threads_publishing_limit`,
      `POST /v1.0/${ADA.id}/threads`,
      `GET /v1.0/${post.containerId}`,
      `POST /v1.0/${ADA.id}/threads_publish`,
      `GET /v1.0/${post.id}`,
    ]);
    expect(mine.every((c) => c.authorization === `Bearer ${token}`)).toBe(true);
    expect(mine[1].body).toEqual({ media_type: 'TEXT', text });
    expect(mine[2].query.fields).toBe('status,error_message');
    expect(mine[3].body).toEqual({ creation_id: post.containerId });
  });

  it('publishes an image Threads fetches from the media URL, with its alt text', async () => {
    const photo = jpeg('A grey rectangle');
    const text = unique('One photo');
    await published(partCall(container(text, [photo])).run());
    const made = containerOf(lastPost().containerId);
    expect(made).toMatchObject({ mediaType: 'IMAGE', imageUrl: photo.url, altText: 'A grey rectangle', text, bytes: photo.size });
  });

  it('polls a processing video across calls and publishes the one container made', async () => {
    const clip = mp4();
    const text = unique('A video');
    const first = partCall(container(text, [clip]));
    const outcome = await first.run();
    expect(outcome).toMatchObject({ status: 'processing', checkAfterSeconds: 30 });
    const saved = (outcome as Extract<PartOutcome, { status: 'processing' }>).saved;
    expect(containerOf(saved.container as string)).toMatchObject({ mediaType: 'VIDEO', videoUrl: clip.url, status: 'IN_PROGRESS' });
    expect(first.record.beforeCreate).toEqual([]);

    const madeBefore = th.containers.size;
    const part = await published(partCall(container(text, [clip]), { saved }).run());
    expect(th.containers.size).toBe(madeBefore);
    expect(lastPost()).toMatchObject({ id: part.id, mediaType: 'VIDEO', containerId: saved.container });
  });

  it('publishes a carousel of images and a video: item containers first, FINISHED, then the CAROUSEL with the text', async () => {
    const media = [jpeg('first'), png(), mp4()];
    const text = unique('Swipe');
    const first = partCall(container(text, media));
    const outcome = await first.run();
    // The video item is still processing: nothing but the items exists yet, and they are kept for the next call.
    expect(outcome.status).toBe('processing');
    const saved = (outcome as Extract<PartOutcome, { status: 'processing' }>).saved as { items: Record<string, string> };
    const items = media.map((m) => containerOf(saved.items[m.id]));
    expect(items.map((c) => [c.mediaType, c.isCarouselItem, c.text])).toEqual([
      ['IMAGE', true, undefined],
      ['IMAGE', true, undefined],
      ['VIDEO', true, undefined],
    ]);
    expect(items[0].altText).toBe('first');

    const part = await published(partCall(container(text, media), { saved }).run());
    const post = lastPost();
    expect(post).toMatchObject({ id: part.id, mediaType: 'CAROUSEL_ALBUM', text });
    expect(post.children.map((c) => c.id)).toEqual(items.map((c) => c.id));
    expect(containerOf(post.containerId)).toMatchObject({ mediaType: 'CAROUSEL', isCarouselItem: false });
  });

  it('publishes a thread: each later post replies to the one before, with reply control on each and the extras on the first', async () => {
    const options = { replyControl: 'accounts_you_follow', linkAttachment: 'https://example.com/article', topicTag: 'Switchboard' };
    const root = await published(partCall(container(unique('Thread 1/3')), { options }).run());
    const second = await published(partCall(container(unique('Thread 2/3'), [], 1), { previous: root, options }).run());
    const third = await published(partCall(container(unique('Thread 3/3'), [jpeg()], 2), { previous: second, root, options }).run());
    const byId = (id: string) => th.media.get(id)!;
    expect(byId(root.id)).toMatchObject({ replyToId: undefined, replyControl: 'accounts_you_follow', linkAttachment: 'https://example.com/article', topicTag: 'Switchboard' });
    expect(byId(second.id)).toMatchObject({ replyToId: root.id, rootId: root.id, replyControl: 'accounts_you_follow', linkAttachment: undefined, topicTag: undefined });
    expect(byId(third.id)).toMatchObject({ replyToId: second.id, rootId: root.id, mediaType: 'IMAGE' });
  });
});

describe('the 24-hour caps, read before publishing', () => {
  it('refuses a post as quota_exhausted when the 250 are used, making nothing, and says when to try again', async () => {
    th.settings.postQuota = th.postsOf(ADA.id).filter((p) => !p.replyToId).length;
    const containersBefore = th.containers.size;
    const err = await publishError(partCall(container(unique('Over the cap'))).run());
    expect(err.category).toBe('quota_exhausted');
    expect(err.retryAfterSeconds).toBe(86400);
    expect(err.message).toMatch(/published its \d+ posts allowed in 24 hours/);
    expect(th.containers.size).toBe(containersBefore);
  });

  it('counts replies against the 1,000 replies, not the posts', async () => {
    const root = await published(partCall(container(unique('Root'))).run());
    th.settings.postQuota = 0;
    th.settings.replyQuota = th.postsOf(ADA.id).filter((p) => p.replyToId).length + 1;
    await published(partCall(container(unique('A reply still fits'), [], 1), { previous: root }).run());
    const err = await publishError(partCall(container(unique('One reply too many'), [], 1), { previous: root }).run());
    expect(err).toMatchObject({ category: 'quota_exhausted', platformCode: 'reply_quota_usage' });
  });

  it('classifies threads_publish’s own refusal of the cap (2207042) as quota_exhausted', async () => {
    th.failNext('publish', { status: 400, body: graphError('(#9) Application request limit reached', 9, 2207042) });
    const err = await publishError(partCall(container(unique('Refused at publish'))).run());
    expect(err).toMatchObject({ category: 'quota_exhausted', retryAfterSeconds: 86400, platformCode: '9/2207042' });
  });
});

describe('errors', () => {
  const answer = (status: number, message: string, code: number, subcode?: number, headers?: Record<string, string>) => ({ status, body: graphError(message, code, subcode), headers });

  it.each([
    ['an expired token (190)', threadsFailures.sessionExpired(), 'auth_expired'],
    ['Graph throttling (4)', threadsFailures.rateLimited(), 'rate_limited'],
    ['user throttling (17)', answer(400, '(#17) User request limit reached', 17), 'rate_limited'],
    ['an outage (500)', threadsFailures.serverError(), 'platform_error'],
    ['a missing permission (10)', answer(403, '(#10) Application does not have permission for this action', 10), 'permission_missing'],
    ['an invalid parameter (100)', answer(400, 'Invalid parameter', 100), 'user_content'],
    ['media Threads could not fetch (2207052)', answer(400, 'The media could not be fetched from this URI', 9004, 2207052), 'media_unreachable'],
  ])('classifies %s at container creation', async (_name, failure, category) => {
    th.failNext('create', failure);
    const err = await publishError(partCall(container(unique('Refused'))).run());
    expect(err.category).toBe(category);
    expect(err.message).toContain('Threads said:');
  });

  it('waits out the throttle Retry-After says', async () => {
    th.failNext('create', threadsFailures.rateLimited());
    expect((await publishError(partCall(container(unique('Throttled'))).run())).retryAfterSeconds).toBe(300);
  });

  it('a container not ready at threads_publish (2207027) is tried again, with the container kept', async () => {
    th.failNext('publish', answer(400, 'Media ID is not available', 9007, 2207027));
    const { run, record } = partCall(container(unique('Not ready')));
    const err = await publishError(run());
    expect(err).toMatchObject({ category: 'platform_error', platformCode: '9007/2207027' });
    expect(record.saved.at(-1)!.container).toEqual(expect.any(String));
  });

  it('refuses more than five links (THREADS_API__LINK_LIMIT_EXCEEDED) as user content', async () => {
    const links = Array.from({ length: 6 }, (_, i) => `https://example.com/${i}`).join(' ');
    const err = await publishError(partCall(container(`Links ${links}`)).run());
    expect(err.category).toBe('user_content');
    expect(err.message).toContain('at most 5 links');
  });

  it('an image Threads cannot fetch is refused at once as media_unreachable', async () => {
    const err = await publishError(partCall(container(unique('No image'), [unreachable('image')])).run());
    expect(err).toMatchObject({ category: 'media_unreachable', platformCode: '9004/2207052' });
  });

  it.each([
    ['FAILED_DOWNLOADING_VIDEO', 'media_unreachable'],
    ['INVALID_DURATION', 'user_content'],
    ['INVALID_ASPEC_RATIO', 'user_content'],
    ['FAILED_PROCESSING_AUDIO', 'user_content'],
    ['UNKNOWN', 'platform_error'],
  ])('a container that ends in ERROR with %s is %s, and the next attempt makes a new one', async (message, category) => {
    th.settings.nextContainerFailure = message;
    th.settings.readsUntilDone.VIDEO = 1;
    const clip = mp4();
    const { run, record } = partCall(container(unique('Bad video'), [clip]));
    const err = await publishError(run());
    expect(err).toMatchObject({ category, platformCode: message });
    expect(record.saved.at(-1)).toEqual({});
    const retry = await published(partCall(container(unique('Good video'), [clip]), { saved: record.saved.at(-1) }).run());
    expect(th.media.get(retry.id)!.mediaType).toBe('VIDEO');
  });

  it('a video Threads cannot download ends in FAILED_DOWNLOADING_VIDEO: media_unreachable', async () => {
    th.settings.readsUntilDone.VIDEO = 1;
    const err = await publishError(partCall(container(unique('Missing video'), [unreachable('video')])).run());
    expect(err).toMatchObject({ category: 'media_unreachable', platformCode: 'FAILED_DOWNLOADING_VIDEO' });
  });

  it('an expired container is made again on the next attempt', async () => {
    const clip = mp4();
    const outcome = await partCall(container(unique('Slow video'), [clip])).run();
    const saved = (outcome as Extract<PartOutcome, { status: 'processing' }>).saved;
    th.expire(saved.container as string);
    const { run, record } = partCall(container(unique('Slow video'), [clip]), { saved });
    expect((await publishError(run())).category).toBe('platform_error');
    expect(record.saved.at(-1)).toEqual({});
  });

  it('a token without threads_content_publish is permission_missing', async () => {
    const readOnly = th.issueToken(ADA.id, ['threads_basic']);
    expect((await publishError(partCall(container(unique('No scope')), { accessToken: readOnly }).run())).category).toBe('permission_missing');
  });
});

describe('finding a part after a lost answer', () => {
  const find = (input: PartInput) => adapter.publishing!.findPart!(input);

  it('a published container is found among the profile’s threads; one never published is absent', async () => {
    th.settings.loseNextPublishAnswer = true;
    const text = unique('Answer lost');
    const { input, run, record } = partCall(container(text));
    expect((await publishError(run())).category).toBe('platform_error');
    const post = lastPost();
    expect(post.text).toBe(text);
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toEqual({ id: post.id, url: `https://www.threads.com/@ada.threads/post/${post.shortcode}` });

    th.failNext('publish', threadsFailures.serverError());
    const other = partCall(container(unique('Never published')));
    await publishError(other.run());
    expect(await find({ ...other.input, saved: other.record.beforeCreate[0] })).toBe('absent');
    // And publishing again then publishes the same container once.
    const part = await published(partCall(container(other.input.container.text), { saved: other.record.beforeCreate[0] }).run());
    expect(th.media.get(part.id)!.containerId).toBe(other.record.beforeCreate[0].container);
  });

  it('finds a reply among the profile’s replies, under the post it answers', async () => {
    const root = await published(partCall(container(unique('Root of a lost reply'))).run());
    th.settings.loseNextPublishAnswer = true;
    const { input, run, record } = partCall(container('Same words', [], 1), { previous: root });
    await publishError(run());
    const reply = lastPost();
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toMatchObject({ id: reply.id });
  });

  it('says unknown for a published reply it is not allowed to look for (no threads_read_replies)', async () => {
    const root = await published(partCall(container(unique('Root'))).run());
    th.settings.loseNextPublishAnswer = true;
    const { input, run, record } = partCall(container(unique('Reply, answer lost'), [], 1), { previous: root });
    await publishError(run());
    const noReadReplies = th.issueToken(ADA.id, ALL_SCOPES.filter((s) => s !== 'threads_read_replies'));
    expect(await find({ ...input, accessToken: noReadReplies, saved: record.beforeCreate[0] })).toBe('unknown');
  });

  it('says unknown without a container and start time, or when the status cannot be read', async () => {
    expect(await find(partCall(container('No progress')).input)).toBe('unknown');
    const { input, record, run } = partCall(container(unique('Unreadable status')));
    await published(run());
    th.failNext('status', threadsFailures.serverError());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('unknown');
  });

  it('a container already PUBLISHED when publishPart looks is found, not published again', async () => {
    th.settings.loseNextPublishAnswer = true;
    const text = unique('Published behind our back');
    const { run, record } = partCall(container(text));
    await publishError(run());
    const count = th.postsOf(ADA.id).length;
    const part = await published(partCall(container(text), { saved: record.beforeCreate[0] }).run());
    expect(th.postsOf(ADA.id)).toHaveLength(count);
    expect(part.id).toBe(lastPost().id);
  });
});

describe('deleting', () => {
  it('deletes a post and a reply, and one already gone counts as deleted', async () => {
    const root = await published(partCall(container(unique('To delete'))).run());
    const reply = await published(partCall(container(unique('Reply to delete'), [], 1), { previous: root }).run());
    const remove = (part: PublishedPart, accessToken = token) => adapter.publishing!.deletePart!({ app, accessToken, account, options: {}, part });
    await remove(reply);
    await remove(root);
    expect([th.media.get(root.id)!.deleted, th.media.get(reply.id)!.deleted]).toEqual([true, true]);
    await expect(remove(root)).resolves.toBeUndefined();
  });

  it('needs threads_delete', async () => {
    const root = await published(partCall(container(unique('Kept'))).run());
    const noDelete = th.issueToken(ADA.id, ALL_SCOPES.filter((s) => s !== 'threads_delete'));
    const err = await publishError(adapter.publishing!.deletePart!({ app, accessToken: noDelete, account, options: {}, part: root }));
    expect(err.category).toBe('permission_missing');
    expect(th.media.get(root.id)!.deleted).toBe(false);
  });
});

describe('metrics and publishing options', () => {
  it('reads followers now and views, likes, replies, reposts and quotes for the period', async () => {
    th.settings.insights.set(ADA.id, { views: 1234, likes: 56, replies: 7, reposts: 8, quotes: 9, followers_count: 4321 });
    const calls = th.state.calls.length;
    const since = new Date('2026-11-01T00:00:00Z');
    const until = new Date('2026-11-08T00:00:00Z');
    const metrics = await adapter.metrics!.read({ app, accessToken: token, account, since, until });
    expect(metrics).toEqual({
      followersCount: 4321,
      followingCount: null,
      postsCount: null,
      engagement: { views: 1234, likes: 56, comments: 7, shares: 8 },
      platformSpecific: { replies: 7, reposts: 8, quotes: 9 },
    });
    const asked = th.state.calls.slice(calls).map((c) => c.query);
    expect(asked).toEqual([
      { metric: 'views,likes,replies,reposts,quotes', since: String(since.getTime() / 1000), until: String(until.getTime() / 1000) },
      { metric: 'followers_count' },
    ]);
  });

  it('never asks for a period before 13 April 2024, which Threads refuses', async () => {
    const calls = th.state.calls.length;
    await adapter.metrics!.read({ app, accessToken: token, account, since: new Date('2024-01-01T00:00:00Z'), until: new Date('2024-05-01T00:00:00Z') });
    expect(th.state.calls[calls].query.since).toBe('1712991600');
  });

  it('needs threads_manage_insights', async () => {
    const noInsights = th.issueToken(ADA.id, ['threads_basic', 'threads_content_publish']);
    const err = await publishError(adapter.metrics!.read({ app, accessToken: noInsights, account, since: new Date(Date.now() - 86400_000), until: new Date() }));
    expect(err.category).toBe('permission_missing');
  });

  it('describes the reply controls and the posts and replies left in the window', async () => {
    th.settings.postQuota = 250;
    const used = th.postsOf(ADA.id).filter((p) => !p.replyToId).length;
    const options = await adapter.publishing!.describeOptions!({ app, accessToken: token, account });
    expect(options).toMatchObject({
      replyControl: ['everyone', 'accounts_you_follow', 'mentioned_only', 'parent_post_author_only', 'followers_only'],
      postsLeft: { used, total: 250, remaining: 250 - used, windowSeconds: 86400 },
      repliesLeft: { total: 1000, windowSeconds: 86400 },
      maxCarouselItems: 20,
    });
  });
});

describe('rules and the proxy', () => {
  it('counts text as Threads does: an emoji counts as its UTF-8 bytes', () => {
    expect(threadsTextLength('hello')).toBe(5);
    expect(threadsTextLength('🙂')).toBe(4);
    expect(threadsTextLength('👨‍👩‍👧')).toBe(Buffer.byteLength('👨‍👩‍👧'));
    expect(threadsTextLength('🇫🇷')).toBe(8);
    expect(threadsTextLength('café ñ 日本')).toBe(9);
  });

  it('declares Threads’ limits and refuses what a post cannot carry, in plain words', () => {
    const publishing = adapter.publishing!;
    expect(publishing.rules).toMatchObject({ text: { maxLength: 500 }, laterContainers: 'replies', laterContainersMedia: true, media: { maxItems: 20, mixKinds: true } });
    expect(publishing.rules.media.image).toMatchObject({ contentTypes: ['image/jpeg', 'image/png'], maxBytes: 8 * 1024 * 1024 });
    expect(publishing.rules.media.video).toMatchObject({ maxSeconds: 300, maxBytes: 1024 * 1024 * 1024 });
    expect(publishing.rules.media.gif).toBeUndefined();
    const check = (containers: PublishContainer[], options: Record<string, unknown> = {}) => publishing.check!({ containers, options, account });
    expect(check([container('a'.repeat(496) + '🙂')])).toEqual([]);
    expect(check([container('a'.repeat(497) + '🙂')])).toEqual(['Threads counts this text as 501 characters (an emoji counts as its UTF-8 bytes, 🙂 as 4) and takes at most 500']);
    const sixLinks = Array.from({ length: 6 }, (_, i) => `https://example.com/${i}`).join(' ');
    expect(check([container('fine'), container(sixLinks, [], 1)])).toEqual(['part 2: Threads takes at most 5 links in a post (this one has 6)']);
    expect(check([container('x', [jpeg()])], { linkAttachment: 'https://example.com' })).toEqual(['Threads attaches a link (threads.linkAttachment) only to a post without images or videos']);
    expect(check([container('x', [jpeg('a'.repeat(1001))])])[0]).toMatch(/alt text of at most 1000/);
    const schema = publishing.optionsSchema!;
    expect(schema.safeParse({ replyControl: 'followers_only', topicTag: 'Cooking', linkAttachment: 'https://example.com' }).success).toBe(true);
    expect(schema.safeParse({ replyControl: 'nobody' }).success).toBe(false);
    expect(schema.safeParse({ topicTag: 'a.b' }).success).toBe(false);
    expect(schema.safeParse({ topicTag: 'x'.repeat(51) }).success).toBe(false);
    expect(schema.safeParse({ reply_control: 'everyone' }).success).toBe(false);
  });

  it('the proxy reaches graph.threads.net with the token as a bearer token', async () => {
    expect(adapter.api).toEqual({ origin: 'https://graph.threads.net' });
    const res = await fetch(`${th.origin}/v1.0/me?fields=id`, { headers: { authorization: `Bearer ${token}` } });
    expect(await res.json()).toEqual({ id: ADA.id });
  });
});

describe('the emulator enforces the contract', () => {
  const post = (path: string, form: Record<string, string>, accessToken = token) =>
    fetch(`${th.origin}/v1.0/${path}`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );

  it('publishes only a FINISHED container, and only once', async () => {
    th.settings.readsUntilDone.TEXT = 1;
    const { body } = await post(`${ADA.id}/threads`, { media_type: 'TEXT', text: unique('Early') });
    const early = await post(`${ADA.id}/threads_publish`, { creation_id: body.id });
    expect(early.body.error).toMatchObject({ code: 9007, error_subcode: 2207027 });
    await fetch(`${th.origin}/v1.0/${body.id}?fields=status`, { headers: { authorization: `Bearer ${token}` } });
    expect((await post(`${ADA.id}/threads_publish`, { creation_id: body.id })).status).toBe(200);
    expect((await post(`${ADA.id}/threads_publish`, { creation_id: body.id })).body.error.message).toMatch(/already been published/);
  });

  it('refuses a carousel of one, text over 500 as Threads counts it, a link on an image, and replies under others’ threads', async () => {
    const item = await post(`${ADA.id}/threads`, { media_type: 'IMAGE', image_url: jpeg().url, is_carousel_item: 'true' });
    expect((await post(`${ADA.id}/threads`, { media_type: 'CAROUSEL', children: item.body.id })).body.error.message).toMatch(/2 to 20/);
    expect((await post(`${ADA.id}/threads`, { media_type: 'TEXT', text: 'a'.repeat(497) + '🙂' })).body.error.message).toMatch(/at most 500/);
    expect((await post(`${ADA.id}/threads`, { media_type: 'IMAGE', image_url: jpeg().url, link_attachment: 'https://example.com' })).body.error.message).toMatch(/only supported for TEXT/);
    const ben = th.issueToken(USERS[1].id, ALL_SCOPES);
    const bens = await post(`${USERS[1].id}/threads`, { media_type: 'TEXT', text: 'Ben’s' }, ben);
    const published = await post(`${USERS[1].id}/threads_publish`, { creation_id: bens.body.id }, ben);
    expect((await post(`${ADA.id}/threads`, { media_type: 'TEXT', text: 'Hi Ben', reply_to_id: published.body.id })).body.error.code).toBe(10);
  });
});

describe('through our API', () => {
  let t: TestServer;
  let accountId: string;
  const CLEO = USERS[2];

  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(th.upstreams) }, { worker: true });
    th.allowRedirectUri(`${t.url}/oauth/threads/callback`);
    await configureNetwork(t, 'threads', { client_key: APP.id, client_secret: APP.secret });
    th.signIn(CLEO.id);
    const params = resultOf(await connectThroughBrowser(t, 'threads', { tenant_id: 'tenant-cleo' }));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  async function settled(id: string) {
    // The worker runs beside the test on a busy machine: patience, not a timing assertion.
    for (let i = 0; i < 600; i++) {
      const { body } = await t.api('GET', `/v1/posts/${id}`);
      if (['published', 'partial', 'failed'].includes(body.post.status)) return body.post;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`post ${id} did not settle`);
  }

  async function upload(bytes: Buffer, filename: string, contentType: string) {
    const started = await t.api('POST', '/v1/media/upload', { filename, content_type: contentType });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const put = await fetch(started.body.data.upload_url, { method: 'PUT', body: bytes });
    expect(put.status).toBe(200);
    const confirmed = await t.api('POST', `/v1/media/${started.body.data.id}/confirm`, { size: bytes.length });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    return started.body.data.id as string;
  }

  it('publishes a thread through POST /v1/posts as a post and its reply, then deletes both at Threads', async () => {
    const text = unique('Posted through Switchboard');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: text }, { content: 'And a reply 🧵' }], accounts: [accountId], threads: { replyControl: 'mentioned_only' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const root = th.postsOf(CLEO.id).find((p) => p.text === text)!;
    const reply = th.postsOf(CLEO.id).find((p) => p.replyToId === root.id)!;
    expect(root).toMatchObject({ text, replyControl: 'mentioned_only' });
    expect(reply).toMatchObject({ text: 'And a reply 🧵', replyToId: root.id, replyControl: 'mentioned_only' });
    expect(post.socialAccounts[0]).toMatchObject({
      id: accountId,
      network: 'threads',
      status: 'published',
      platformPostId: root.id,
      platformPostUrl: `https://www.threads.com/@cleo.threads/post/${root.shortcode}`,
      platformPostIds: [root.id, reply.id],
    });

    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect([th.media.get(root.id)!.deleted, th.media.get(reply.id)!.deleted]).toEqual([true, true]);
  });

  it('publishes an uploaded image that Threads fetches from PUBLIC_URL', async () => {
    const bytes = makeJpeg(80, 60);
    const id = await upload(bytes, 'photo.jpg', 'image/jpeg');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: unique('With a photo'), media: [{ id, alt: 'A grey photo' }] }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await settled(created.body.post.id)).status).toBe('published');
    const made = th.containers.get(th.postsOf(CLEO.id)[0].containerId)!;
    expect(made).toMatchObject({ mediaType: 'IMAGE', altText: 'A grey photo', bytes: bytes.length });
    expect(made.imageUrl!.startsWith(`${t.url}/`)).toBe(true);
  });

  it('publishes through Ocoya’s POST /post', async () => {
    const ws = (await t.api('GET', '/v1/workspaces')).body.data[0].id;
    const caption = unique('Through Ocoya');
    const res = await fetch(`${t.url}/api/_public/v1/post?workspaceId=${ws}`, {
      method: 'POST',
      headers: { 'x-api-key': t.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ caption, socialProfileIds: [accountId], scheduledAt: new Date().toISOString() }),
    });
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect((await settled(body.postGroupId)).status).toBe('published');
    expect(th.postsOf(CLEO.id)[0].text).toBe(caption);
  });

  it('answers metrics and publishing options from Threads', async () => {
    th.settings.insights.set(CLEO.id, { views: 100, likes: 10, replies: 2, reposts: 3, quotes: 1, followers_count: 42 });
    const metrics = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(metrics.body.data).toMatchObject({ network: 'threads', followers_count: 42, engagement: { views: 100, likes: 10, comments: 2, shares: 3 }, platform_specific: { quotes: 1 } });
    const options = await t.api('GET', `/v1/social-accounts/${accountId}/publishing-options`);
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(options.body.data.options).toMatchObject({ replyControl: expect.arrayContaining(['everyone', 'mentioned_only']), postsLeft: { total: 250 } });
  });

  it('calls Threads directly through the proxy with the account’s token as a bearer token', async () => {
    const calls = th.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/v1.0/me?fields=id,username`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ id: CLEO.id, username: 'cleo.threads' });
    const call = th.state.calls.slice(calls).find((c) => c.path === '/v1.0/me')!;
    expect(call.authorization).toMatch(/^Bearer TH/);
  });

  it('refuses at preflight text too long as Threads counts it, and a post when the 24-hour cap is used up', async () => {
    const long = await t.api('POST', '/v1/posts', { content: 'a'.repeat(490) + '🙂🙂🙂', accounts: [accountId] });
    expect(long.status).toBe(400);
    expect(JSON.stringify(long.body)).toContain('Threads counts this text as 502 characters');
    th.settings.postQuota = 0;
    const capped = await t.api('POST', '/v1/posts', { content: unique('Over the cap'), accounts: [accountId] });
    expect(capped.status, JSON.stringify(capped.body)).toBe(400);
    expect(JSON.stringify(capped.body)).toContain('published its 0 posts allowed in 24 hours');
  });
});
