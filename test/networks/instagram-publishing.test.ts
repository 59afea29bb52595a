// Instagram publishing, the adapter against the Meta emulator, through both logins: Facebook Login
// (graph.facebook.com, the Page's token with its appsecret_proof; Require App Secret on) and Instagram Login
// (graph.instagram.com, the Instagram token, no proof — graph.facebook.com is not even mapped for it). Photos,
// carousels, Reels and Stories by container from a public media URL the emulator fetches, container status across
// calls, the daily cap read before media_publish, permalinks, first comments, every classified error code,
// reconciliation after a lost answer, metrics and publishing options; then through our API: POST /v1/posts and
// Ocoya's POST /post published by the worker, metrics, publishing options, the proxy and preflight.
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createInstagramAdapter } from '../../src/providers/instagram/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import {
  PublishError,
  type AppCredentials,
  type NetworkAdapter,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
  type SavedProgress,
} from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { makeJpeg, makeMp4, makePng } from '../helpers/media-fixtures.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { eq } from 'drizzle-orm';
import { posts, postTargets } from '../../src/db/schema.ts';
import { appSecretProof, graphError, metaFailures, metaUpstreams, startMetaEmulator, type InjectedAnswer, type MetaEmulator } from '../emulators/meta.ts';

const FB_APP = { id: '710000000000003', secret: 'facebook-app-secret' };
const IG_APP = { id: '990000000000003', secret: 'instagram-app-secret' };
const PAGE = 'gina-page';
const IG_FB = '17841400000000201';
const IG_IG = '17841400000000202';
const FB_SCOPES = ['instagram_basic', 'instagram_content_publish', 'pages_read_engagement', 'pages_show_list', 'instagram_manage_comments', 'instagram_manage_insights'];

let meta: MetaEmulator;
let files: Server;
let filesOrigin: string;
const served = new Map<string, Buffer>();

interface Login {
  name: 'facebook' | 'instagram';
  adapter: NetworkAdapter;
  app: AppCredentials;
  account: PublishAccount;
  token: string;
  igUser: string;
  /** A token of the same account without these permissions. */
  tokenWithout(scopes: string[]): string;
}
const logins: Record<'facebook' | 'instagram', Login> = {} as never;

beforeAll(async () => {
  meta = await startMetaEmulator({
    facebookApp: FB_APP,
    instagramApp: IG_APP,
    facebookUsers: [{ id: 'gina', name: 'Gina', appRole: true, pages: [{ id: PAGE, name: 'Gina Page', instagram: { id: IG_FB, username: 'gina.shop', name: 'Gina Shop' } }] }],
    instagramUsers: [{ userId: IG_IG, username: 'ivy.studio', name: 'Ivy Studio', accountType: 'Business' }],
  });
  // The public URLs Instagram fetches media from (PUBLIC_URL's media route, in production).
  files = createServer((req, res) => {
    const bytes = served.get(req.url ?? '');
    if (!bytes) return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  const address = files.address();
  filesOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const http = new OutboundHttp(new HostResolver(), true);
  const versions = { linkedin: '202601', metaGraph: 'v26.0' };
  const viaFacebook = createInstagramAdapter({ upstream: new UpstreamClient(metaUpstreams(meta), 15000, { http }), versions });
  // Instagram Login reaches graph.instagram.com only: graph.facebook.com goes nowhere.
  const instagramOnly = { 'https://graph.instagram.com': meta.origin, 'https://graph.facebook.com': 'http://127.0.0.1:9' };
  const viaInstagram = createInstagramAdapter({ upstream: new UpstreamClient(instagramOnly, 15000, { http }), versions });
  logins.facebook = {
    name: 'facebook',
    adapter: viaFacebook,
    app: { clientId: FB_APP.id, clientSecret: FB_APP.secret, scopes: [], options: {} },
    account: { networkUniqueId: IG_FB, username: 'gina.shop', accountType: 'business', metadata: { login: 'facebook', pageId: PAGE } },
    token: meta.issuePageToken('gina', PAGE, FB_SCOPES),
    igUser: IG_FB,
    tokenWithout: (scopes) => meta.issuePageToken('gina', PAGE, FB_SCOPES.filter((s) => !scopes.includes(s))),
  };
  const IG_SCOPES = ['instagram_business_basic', 'instagram_business_content_publish', 'instagram_business_manage_comments', 'instagram_business_manage_insights'];
  logins.instagram = {
    name: 'instagram',
    adapter: viaInstagram,
    app: { clientId: IG_APP.id, clientSecret: IG_APP.secret, scopes: [], options: { login: 'instagram' } },
    account: { networkUniqueId: IG_IG, username: 'ivy.studio', accountType: 'business', metadata: { login: 'instagram' } },
    token: meta.instagram.issueToken(IG_IG, IG_SCOPES),
    igUser: IG_IG,
    tokenWithout: (scopes) => meta.instagram.issueToken(IG_IG, IG_SCOPES.filter((s) => !scopes.includes(s))),
  };
});
afterAll(async () => {
  await meta?.close();
  await new Promise((resolve) => files?.close(resolve));
});
beforeEach(() => {
  Object.assign(meta.instagram.settings, { videoReadsUntilFinished: 1, videoOutcome: 'FINISHED', quotaTotal: 100, cutNextPublish: false });
});

/** A file served at a public URL, as an adapter sees it. */
function hosted(bytes: Buffer, facts: Parameters<typeof mediaFromBytes>[1]): PublishMedia {
  const path = `/media/${randomBytes(8).toString('hex')}`;
  served.set(path, bytes);
  return mediaFromBytes(bytes, { ...facts, url: `${filesOrigin}${path}` });
}
const jpeg = (alt?: string) => hosted(makeJpeg(1080, 1080), { kind: 'image', contentType: 'image/jpeg', width: 1080, height: 1080, alt });
const mp4 = (seconds = 12) => hosted(makeMp4({ width: 1080, height: 1920, durationSeconds: seconds }), { kind: 'video', contentType: 'video/mp4', filename: 'clip.mp4', durationSeconds: seconds, width: 1080, height: 1920 });
const unique = (words: string) => `${words} ${randomBytes(4).toString('hex')}`;
const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });

/** One call of publishPart as the engine makes it, recording what the adapter saved and when it was about to create. */
function partCall(login: Login, c: PublishContainer, opts: { root?: PublishedPart; saved?: SavedProgress; accessToken?: string; options?: Record<string, unknown> } = {}) {
  const record = { beforeCreate: [] as SavedProgress[], saved: [] as SavedProgress[], mediaAtBeforeCreate: -1 };
  const input: PartInput = {
    app: login.app,
    accessToken: opts.accessToken ?? login.token,
    account: login.account,
    options: opts.options ?? {},
    container: c,
    root: opts.root ?? null,
    previous: opts.root ?? null,
    saved: opts.saved ?? {},
    async beforeCreate(saved) {
      record.beforeCreate.push(saved);
      record.mediaAtBeforeCreate = meta.instagram.mediaOf(login.igUser).length;
    },
    async save(saved) {
      record.saved.push(saved);
    },
  };
  return { input, record, run: () => login.adapter.publishing!.publishPart(input) };
}

/** Calls publishPart again with what it saved until it publishes (the engine does this after checkAfterSeconds). */
async function untilPublished(login: Login, c: PublishContainer, opts: { options?: Record<string, unknown> } = {}) {
  let saved: SavedProgress = {};
  const outcomes: PartOutcome[] = [];
  for (let i = 0; i < 6; i++) {
    const call = partCall(login, c, { ...opts, saved });
    const outcome = await call.run();
    outcomes.push(outcome);
    if (outcome.status === 'published') return { part: outcome.part, outcomes, record: call.record };
    expect(outcome.checkAfterSeconds).toBeGreaterThan(0);
    saved = outcome.saved;
  }
  throw new Error('never published');
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

const callsSince = (n: number) => meta.state.calls.slice(n);

describe.each(['facebook', 'instagram'] as const)('through %s Login', (name) => {
  const login = () => logins[name];

  it('publishes a photo: container from the media URL, the daily cap read, then media_publish, with the permalink', async () => {
    const l = login();
    const text = unique('A photo from Switchboard ✨');
    const before = meta.instagram.mediaOf(l.igUser).length;
    const n = meta.state.calls.length;
    const photo = jpeg('A red square on white');
    const { run, record } = partCall(l, container(text, [photo]), { options: { locationId: '110843418940484', collaborators: ['kai.creates'], userTags: [{ username: 'jade.makes', x: 0.2, y: 0.8 }] } });
    const part = await published(run());

    const [media] = meta.instagram.mediaOf(l.igUser);
    expect(media).toMatchObject({ mediaType: 'IMAGE', productType: 'FEED', caption: text });
    expect(media.params).toMatchObject({ image_url: photo.url, alt_text: 'A red square on white', location_id: '110843418940484', collaborators: '["kai.creates"]' });
    expect(JSON.parse(media.params.user_tags)).toEqual([{ username: 'jade.makes', x: 0.2, y: 0.8 }]);
    expect(part).toEqual({ id: media.id, url: `https://www.instagram.com/p/${media.shortcode}/`, data: { containerId: media.containerId } });
    // beforeCreate came once, right before media_publish, with the container findPart needs.
    expect(record.beforeCreate).toEqual([{ containerId: media.containerId, startedAt: expect.any(Number) }]);
    expect(record.mediaAtBeforeCreate).toBe(before);
    const calls = callsSince(n);
    const order = calls.map((c) => `${c.method} ${c.path.replace(/^\/v26\.0/, '')}`);
    expect(order.indexOf(`GET /${l.igUser}/content_publishing_limit`)).toBeLessThan(order.indexOf(`POST /${l.igUser}/media_publish`));
    expect(order.indexOf(`GET /${l.igUser}/content_publishing_limit`)).toBeGreaterThan(-1);
    for (const c of calls) {
      if (name === 'facebook') expect(c.query.appsecret_proof).toBe(appSecretProof(l.token, FB_APP.secret));
      else expect(c.query.appsecret_proof).toBeUndefined();
      expect(c.authorization).toBe(`Bearer ${l.token}`);
    }
  });

  it('publishes a carousel: items with is_carousel_item (a video waits to be processed), made once, then the carousel', async () => {
    const l = login();
    const text = unique('Three in one');
    const items = [jpeg('first'), mp4(20), jpeg('third')];
    const first = partCall(l, container(text, items));
    const outcome = await first.run();
    // The video item is still being processed: nothing is published yet, and the items are kept.
    expect(outcome).toMatchObject({ status: 'processing', checkAfterSeconds: 60 });
    const children = (outcome as Extract<PartOutcome, { status: 'processing' }>).saved.children as Record<string, string>;
    expect(Object.keys(children)).toEqual(items.map((m) => m.id));
    expect(first.record.beforeCreate).toEqual([]);
    const made = meta.instagram.containers.size;

    const second = partCall(l, container(text, items), { saved: (outcome as Extract<PartOutcome, { status: 'processing' }>).saved });
    const part = await published(second.run());
    // Only the carousel itself was made the second time.
    expect(meta.instagram.containers.size).toBe(made + 1);
    const [media] = meta.instagram.mediaOf(l.igUser);
    expect(media).toMatchObject({ mediaType: 'CAROUSEL_ALBUM', caption: text, children: items.map((m) => children[m.id]) });
    const kinds = media.children.map((id) => meta.instagram.containers.get(id)!);
    expect(kinds.map((c) => [c.mediaType, c.isCarouselItem, c.params.alt_text])).toEqual([
      ['IMAGE', true, 'first'],
      ['VIDEO', true, undefined],
      ['IMAGE', true, 'third'],
    ]);
    expect(part.url).toBe(`https://www.instagram.com/p/${media.shortcode}/`);
  });

  it('publishes a single video as a Reel once processed, with its Reel options', async () => {
    const l = login();
    meta.instagram.settings.videoReadsUntilFinished = 2;
    const text = unique('A Reel');
    const { part, outcomes } = await untilPublished(l, container(text, [mp4(30)]), {
      options: { shareToFeed: false, reelCoverUrl: 'https://cdn.example.com/cover.jpg', reelThumbOffset: 1500, trialReel: { graduationStrategy: 'MANUAL' } },
    });
    expect(outcomes.map((o) => o.status)).toEqual(['processing', 'processing', 'published']);
    const [media] = meta.instagram.mediaOf(l.igUser);
    expect(media).toMatchObject({ mediaType: 'VIDEO', productType: 'REELS', caption: text });
    expect(media.params).toMatchObject({ media_type: 'REELS', share_to_feed: 'false', cover_url: 'https://cdn.example.com/cover.jpg', thumb_offset: '1500', trial_params: '{"graduation_strategy":"MANUAL"}' });
    expect(part.url).toBe(`https://www.instagram.com/reel/${media.shortcode}/`);
  });

  it('publishes a photo story and a video story, without a caption', async () => {
    const l = login();
    const photo = await published(partCall(l, container('', [jpeg()]), { options: { publishAsStory: true, userTags: [{ username: 'jade.makes' }] } }).run());
    const story = meta.instagram.media.get(photo.id)!;
    expect(story).toMatchObject({ productType: 'STORY', mediaType: 'IMAGE', caption: undefined });
    expect(story.params.media_type).toBe('STORIES');
    expect(photo.url).toBe(`https://www.instagram.com/stories/${l.account.username}/${photo.id}/`);
    const { part } = await untilPublished(l, container('', [mp4(10)]), { options: { publishAsStory: true } });
    expect(meta.instagram.media.get(part.id)).toMatchObject({ productType: 'STORY', mediaType: 'VIDEO' });
  });

  it('posts later containers as text comments under the post', async () => {
    const l = login();
    const root = await published(partCall(l, container(unique('With a first comment'), [jpeg()])).run());
    const { run, record } = partCall(l, container('The first comment #switchboard', [], 1), { root });
    const part = await published(run());
    expect(meta.instagram.comments.get(part.id)).toMatchObject({ mediaId: root.id, text: 'The first comment #switchboard', username: l.account.username });
    expect(part.url).toBe(root.url);
    expect(record.beforeCreate).toHaveLength(1);
  });

  it('says which permission a comment needs when the login lacks it', async () => {
    const l = login();
    const root = await published(partCall(l, container(unique('No comments allowed'), [jpeg()])).run());
    const scope = name === 'facebook' ? 'instagram_manage_comments' : 'instagram_business_manage_comments';
    const err = await publishError(partCall(l, container('hello', [], 1), { root, accessToken: l.tokenWithout([scope]) }).run());
    expect(err.category).toBe('permission_missing');
    expect(err.message).toContain(`"${scope}"`);
  });

  it('reads the daily cap before publishing: used up → quota_exhausted after the window, the container kept for the retry', async () => {
    const l = login();
    const used = meta.instagram.mediaOf(l.igUser).length;
    meta.instagram.settings.quotaTotal = used;
    const text = unique('Over the cap');
    const first = partCall(l, container(text, [jpeg()]));
    const err = await publishError(first.run());
    expect(err).toMatchObject({ category: 'quota_exhausted', retryAfterSeconds: 86_400, platformCode: 'content_publishing_limit' });
    expect(err.message).toContain(`${used} of the ${used} posts`);
    expect(first.record.beforeCreate).toEqual([]);
    expect(meta.instagram.mediaOf(l.igUser)).toHaveLength(used);

    meta.instagram.settings.quotaTotal = used + 1;
    const containers = meta.instagram.containers.size;
    const retry = partCall(l, container(text, [jpeg()]), { saved: first.record.saved.at(-1) });
    const part = await published(retry.run());
    expect(meta.instagram.containers.size).toBe(containers);
    expect(meta.instagram.media.get(part.id)!.containerId).toBe(first.record.saved.at(-1)!.containerId);
  });

  it('settles an unknown outcome from the container: PUBLISHED → the post among the recent media; FINISHED → absent', async () => {
    const l = login();
    const text = unique('The answer was lost');
    meta.instagram.settings.cutNextPublish = true;
    const lost = partCall(l, container(text, [jpeg()]));
    await expect(lost.run()).rejects.toThrow();
    const [media] = meta.instagram.mediaOf(l.igUser);
    expect(media.caption).toBe(text);
    const afterDeath = partCall(l, container(text, [jpeg()]), { saved: lost.record.beforeCreate[0] });
    const found = await l.adapter.publishing!.findPart!(afterDeath.input);
    expect(found).toEqual({ id: media.id, url: `https://www.instagram.com/p/${media.shortcode}/`, data: { containerId: media.containerId } });

    // A container that never went out: absent, and publishing it again makes exactly one post.
    meta.instagram.settings.quotaTotal = 0;
    const capped = partCall(l, container(unique('Not yet'), [jpeg()]));
    await publishError(capped.run());
    const saved = { ...capped.record.saved.at(-1)!, startedAt: Date.now() };
    expect(await l.adapter.publishing!.findPart!(partCall(l, container('Not yet', [jpeg()]), { saved }).input)).toBe('absent');
  });

  it('finds a comment after an unknown outcome, and knows when there is none', async () => {
    const l = login();
    const root = await published(partCall(l, container(unique('Commented'), [jpeg()])).run());
    const startedAt = Date.now();
    const text = unique('a comment');
    const part = await published(partCall(l, container(text, [], 1), { root }).run());
    expect(await l.adapter.publishing!.findPart!(partCall(l, container(text, [], 1), { root, saved: { startedAt } }).input)).toEqual({ id: part.id, url: root.url });
    expect(await l.adapter.publishing!.findPart!(partCall(l, container('never sent', [], 1), { root, saved: { startedAt } }).input)).toBe('absent');
  });

  it('reads metrics: followers, follows, posts, and the period’s insights', async () => {
    const l = login();
    const until = new Date();
    const since = new Date(until.getTime() - 7 * 24 * 3600 * 1000);
    const m = await l.adapter.metrics!.read({ app: l.app, accessToken: l.token, account: l.account, since, until });
    expect(m).toEqual({
      followersCount: 1234,
      followingCount: 56,
      postsCount: meta.instagram.mediaOf(l.igUser).filter((x) => x.productType !== 'STORY').length,
      engagement: { likes: 120, comments: 14, shares: 9, saves: 22, views: 2500, reach: 900 },
      platformSpecific: { total_interactions: 165, accounts_engaged: 300, profile_links_taps: 7 },
    });
    const insights = meta.state.calls.filter((c) => c.path === `/v26.0/${l.igUser}/insights`).at(-1)!;
    expect(insights.query).toMatchObject({ metric_type: 'total_value', period: 'day', since: String(Math.floor(since.getTime() / 1000)), until: String(Math.floor(until.getTime() / 1000)) });
  });

  it('keeps the counts and classifies the refusal when insights are not permitted; cuts a long period to 30 days', async () => {
    const l = login();
    const scope = name === 'facebook' ? 'instagram_manage_insights' : 'instagram_business_manage_insights';
    const until = new Date();
    const since = new Date(until.getTime() - 90 * 24 * 3600 * 1000);
    const m = await l.adapter.metrics!.read({ app: l.app, accessToken: l.tokenWithout([scope]), account: l.account, since, until });
    expect(m).toMatchObject({ followersCount: 1234, engagement: null, platformSpecific: { insightsError: { category: 'permission_missing', platformCode: '10' } } });
    expect((m.platformSpecific.insightsError as { message: string }).message).toContain(`"${scope}"`);
    const long = await l.adapter.metrics!.read({ app: l.app, accessToken: l.token, account: l.account, since, until });
    expect(long.engagement).not.toBeNull();
    expect(Date.parse(long.platformSpecific.insightsSince as string)).toBe(until.getTime() - 30 * 24 * 3600 * 1000);
  });

  it('describes the posts left today from content_publishing_limit', async () => {
    const l = login();
    meta.instagram.settings.quotaTotal = 50;
    const used = meta.instagram.mediaOf(l.igUser).length;
    const options = await l.adapter.publishing!.describeOptions!({ app: l.app, accessToken: l.token, account: l.account });
    expect(options).toMatchObject({ login: name, publishingLimit: { used, total: 50, postsLeft: 50 - used, windowSeconds: 86_400 } });
  });
});

describe('containers that fail', () => {
  const l = () => logins.facebook;

  it('a video Instagram cannot process → user_content with its subcode, and the dead container is dropped', async () => {
    const bad = hosted(Buffer.from('not a video at all, just text'), { kind: 'video', contentType: 'video/mp4', durationSeconds: 10 });
    const first = partCall(l(), container('Broken', [bad]));
    expect(await first.run()).toMatchObject({ status: 'processing' });
    const saved = first.record.saved.at(-1)!;
    const again = partCall(l(), container('Broken', [bad]), { saved });
    const err = await publishError(again.run());
    expect(err).toMatchObject({ category: 'user_content', platformCode: 'status_code=ERROR/2207026' });
    expect(err.message).toContain('video format');
    expect(again.record.saved.at(-1)).toEqual({});
  });

  it('a container older than 24 hours → platform_error (retried), dropped so that a new one is made', async () => {
    const first = partCall(l(), container('Stale', [jpeg()]));
    meta.instagram.settings.quotaTotal = 0;
    await publishError(first.run());
    const saved = first.record.saved.at(-1)!;
    meta.instagram.ageContainer(saved.containerId as string, 25 * 3600 * 1000);
    meta.instagram.settings.quotaTotal = 100;
    const again = partCall(l(), container('Stale', [jpeg()]), { saved });
    const err = await publishError(again.run());
    expect(err).toMatchObject({ category: 'platform_error', platformCode: 'status_code=EXPIRED' });
    expect(again.record.saved.at(-1)).toEqual({});
  });

  it('a media URL Instagram cannot fetch → media_unreachable (2207052)', async () => {
    const gone = mediaFromBytes(makeJpeg(8, 8), { kind: 'image', contentType: 'image/jpeg', url: `${filesOrigin}/media/missing` });
    const err = await publishError(partCall(l(), container('Gone', [gone])).run());
    expect(err).toMatchObject({ category: 'media_unreachable', platformCode: '9004/2207052' });
  });

  it('a PNG sent anyway → user_content (2207005)', async () => {
    const png = hosted(makePng(8, 8), { kind: 'image', contentType: 'image/jpeg' });
    expect(await publishError(partCall(l(), container('PNG', [png])).run())).toMatchObject({ category: 'user_content', platformCode: '9004/2207005' });
  });
});

describe('every classified error', () => {
  const ig = (message: string, code: number, subcode?: number): InjectedAnswer => ({ status: 400, body: graphError(message, code, subcode) });
  const cases: [string, string, InjectedAnswer][] = [
    ['2207003 download timed out', 'media_unreachable', ig('It takes too long to download the media.', -2, 2207003)],
    ['2207052 media not fetched', 'media_unreachable', ig('The media could not be fetched from this uri', 9004, 2207052)],
    ['2207001 server error', 'platform_error', ig('Instagram server error. Try again.', -1, 2207001)],
    ['2207032 create media failed', 'platform_error', ig('Create media fail, please try to re-create media', -1, 2207032)],
    ['2207053 unknown upload error', 'platform_error', ig('unknown upload error', -1, 2207053)],
    ['2207008 temporary publishing error', 'platform_error', ig('Temporary error publishing a container', 24, 2207008)],
    ['2207020 container expired', 'platform_error', ig('The media you are trying to access has expired.', -2, 2207020)],
    ['2207027 media not ready', 'platform_error', ig('Media ID is not available', 9007, 2207027)],
    ['9007 media not ready', 'platform_error', ig('Media ID is not available', 9007)],
    ['2207042 daily limit', 'quota_exhausted', ig('You reached maximum number of posts that is allowed to be published by Content Publishing API.', 9, 2207042)],
    ['2207051 suspected spam (code 4)', 'platform_rejected', ig('We restrict certain activity to protect our community.', 4, 2207051)],
    ['2207050 restricted account', 'platform_rejected', ig('The user is inactive, checkpointed or restricted.', 25, 2207050)],
    ['2207006 possible permission error', 'permission_missing', ig('Possible permission error', 100, 2207006)],
    ['2207004 image too large', 'user_content', ig('The image size is too large.', 36000, 2207004)],
    ['2207005 image format', 'user_content', ig('The image format is not supported.', 36001, 2207005)],
    ['2207009 aspect ratio', 'user_content', ig('The aspect ratio is not supported.', 36003, 2207009)],
    ['36003 aspect ratio', 'user_content', ig('The aspect ratio is not supported.', 36003)],
    ['2207010 caption too long', 'user_content', ig('The caption is too long.', 100, 2207010)],
    ['2207023 unknown media type', 'user_content', ig('The media type entered is not one of the expected media types.', 100, 2207023)],
    ['2207026 video format', 'user_content', ig('The video format is not supported.', 352, 2207026)],
    ['2207028 carousel validation', 'user_content', ig('Carousel validation failed.', 100, 2207028)],
    ['2207057 thumb offset', 'user_content', ig('Thumbnail offset must be less than video duration', 1, 2207057)],
    ['2207081 trial reels', 'user_content', ig('Trial reels are not supported for this account', 100, 2207081)],
    ['190 dead token', 'auth_expired', metaFailures.tokenExpired()],
    ['10 missing permission', 'permission_missing', metaFailures.permissionsError()],
    ['200 missing permission', 'permission_missing', metaFailures.missingPermission()],
    ['4 app throttled', 'rate_limited', metaFailures.rateLimited(4)],
    ['80002 Instagram BUC throttle', 'rate_limited', metaFailures.businessUseCaseThrottled(80002, 12)],
    ['368 blocked', 'platform_rejected', metaFailures.spam()],
    ['2 outage', 'platform_error', metaFailures.unknownError()],
    ['500', 'platform_error', metaFailures.serverError()],
  ];

  it.each(cases)('%s → %s', async (_what, category, answer) => {
    meta.instagram.failNext('publish', answer);
    const err = await publishError(partCall(logins.facebook, container(unique('Refused'), [jpeg()])).run());
    expect(err.category).toBe(category);
    if (category === 'quota_exhausted') expect(err.retryAfterSeconds).toBe(86_400);
    if (_what.startsWith('80002')) expect(err.retryAfterSeconds).toBe(12 * 60);
  });

  it('a container refused at creation is classified the same way', async () => {
    meta.instagram.failNext('container', ig('The aspect ratio is not supported.', 36003, 2207009));
    expect(await publishError(partCall(logins.instagram, container('x', [jpeg()])).run())).toMatchObject({ category: 'user_content', platformCode: '36003/2207009' });
  });
});

describe('preflight and the rest of the contract', () => {
  const check = (containers: PublishContainer[], options: Record<string, unknown> = {}) => logins.facebook.adapter.publishing!.check!({ containers, options, account: logins.facebook.account });
  const tall = () => hosted(makeJpeg(1080, 1920), { kind: 'image', contentType: 'image/jpeg', width: 1080, height: 1920 });

  it('refuses what Instagram cannot take, in plain words', () => {
    expect(check([container('Caption', [jpeg()])], { publishAsStory: true })).toEqual(['an Instagram story has no caption: remove the text']);
    expect(check([container('', [jpeg(), jpeg()])], { publishAsStory: true })).toContain('an Instagram story takes exactly one photo or video');
    expect(check([container('', [jpeg()]), container('a comment', [], 1)], { publishAsStory: true })).toContain('an Instagram story cannot have comments: remove the later parts');
    expect(check([container('', [mp4(90)])], { publishAsStory: true })).toContain('an Instagram story video may last 60 seconds at most');
    expect(check([container('Tall', [tall()])])[0]).toMatch(/between 4:5 and 1\.91:1 .* post it as a story instead/);
    expect(check([container('', [tall()])], { publishAsStory: true })).toEqual([]);
    expect(check([container('Carousel', [jpeg(), mp4(75)])])[0]).toMatch(/a video in an Instagram carousel may last 60 seconds at most/);
    expect(check([container('Photo', [jpeg()])], { shareToFeed: true })[0]).toMatch(/apply to a Reel/);
    expect(check([container('Two', [jpeg(), jpeg()])], { altText: 'x' })[0]).toMatch(/altText applies to a single feed photo/);
    expect(check([container('Reel', [mp4(30)])], { shareToFeed: true, reelThumbOffset: 100 })).toEqual([]);
  });

  it('declares the rules: 2,200 characters, JPEG up to 8 MiB, Reels 3 s–15 min, 10 items, comments text only, media required', () => {
    const { rules, optionsSchema, deletePart } = logins.facebook.adapter.publishing!;
    expect(rules).toMatchObject({ text: { maxLength: 2200 }, media: { maxItems: 10, required: 'any', image: { contentTypes: ['image/jpeg'], maxBytes: 8 * 1024 * 1024 }, video: { minSeconds: 3, maxSeconds: 900 } }, laterContainers: 'comments', laterContainersMedia: false });
    expect(rules.media.gif).toBeUndefined();
    expect(optionsSchema!.safeParse({ collaborators: ['a', 'b', 'c', 'd'] }).success).toBe(false);
    expect(optionsSchema!.safeParse({ mediaType: 'REELS' }).success).toBe(false);
    // Meta documents no way to delete Instagram media: DELETE /v1/posts/{id}/remote says not_supported.
    expect(deletePart).toBeUndefined();
  });

  it('the proxy reaches graph.facebook.com with the proof, or graph.instagram.com without, by the account’s login', () => {
    const api = logins.facebook.adapter.api!;
    expect(api.originFor!(logins.facebook.account)).toEqual({ origin: 'https://graph.facebook.com', callerChosenHost: false });
    expect(api.originFor!(logins.instagram.account)).toEqual({ origin: 'https://graph.instagram.com', callerChosenHost: false });
    expect(api.authorize!({ accessToken: 'EAAP-token', app: logins.facebook.app })).toEqual({ query: { access_token: 'EAAP-token', appsecret_proof: appSecretProof('EAAP-token', FB_APP.secret) } });
    expect(api.authorize!({ accessToken: 'IGAA-token', app: logins.instagram.app })).toEqual({ query: { access_token: 'IGAA-token' } });
  });
});

describe('through our API (Facebook Login)', () => {
  let t: TestServer;
  let accountId: string;

  beforeAll(async () => {
    meta.instagram.settings.videoReadsUntilFinished = 0;
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(metaUpstreams(meta)) }, { worker: true });
    meta.allowRedirectUri(`${t.url}/oauth/instagram/callback`);
    // The organization asks for comments and insights on top of the defaults.
    const config = await configureNetwork(t, 'instagram', {
      client_key: FB_APP.id,
      client_secret: FB_APP.secret,
      scopes: ['instagram_basic', 'instagram_manage_insights', 'instagram_content_publish', 'pages_show_list', 'pages_read_engagement', 'business_management', 'instagram_manage_comments'],
    });
    expect(config.scopes).toContain('instagram_manage_comments');
    meta.signInFacebook('gina');
    // The one linked account connects without a selection step.
    const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-gina' }));
    accountId = params.get('account_id')!;
    expect(accountId, params.toString()).toBeTruthy();
    // A server, a database and a browser connection: slow on a busy machine.
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    meta.instagram.settings.videoReadsUntilFinished = 0;
  });

  const settled = (id: string) => settledPost(t, id);

  async function upload(bytes: Buffer, filename: string, contentType: string): Promise<string> {
    const created = await t.api('POST', '/v1/media/upload', { filename });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const put = await fetch(created.body.data.upload_url, { method: 'PUT', headers: { 'content-type': contentType }, body: bytes });
    expect(put.status).toBeLessThan(300);
    const confirmed = await t.api('POST', `/v1/media/${created.body.data.id}/confirm`, {});
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    return (confirmed.body.data ?? confirmed.body).id;
  }

  it('publishes a photo with a first comment through POST /v1/posts; Instagram fetched our media URL', async () => {
    const photo = await upload(makeJpeg(1080, 1350), 'portrait.jpg', 'image/jpeg');
    const text = unique('Posted through Switchboard');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: text, media: [{ id: photo, alt: 'A grey portrait' }] }, { content: 'The first comment' }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const media = meta.instagram.mediaOf(IG_FB).find((m) => m.caption === text)!;
    expect(media.params).toMatchObject({ alt_text: 'A grey portrait' });
    expect(media.params.image_url.startsWith(t.url)).toBe(true);
    const comment = [...meta.instagram.comments.values()].find((c) => c.mediaId === media.id)!;
    expect(comment.text).toBe('The first comment');
    expect(post.socialAccounts[0]).toMatchObject({
      network: 'instagram',
      status: 'published',
      platformPostId: media.id,
      platformPostUrl: `https://www.instagram.com/p/${media.shortcode}/`,
      platformPostIds: [media.id, comment.id],
    });
  });

  it('publishes a Reel with its Instagram options (processed at once here; polling across calls is tested above)', async () => {
    const video = await upload(makeMp4({ width: 1080, height: 1920, durationSeconds: 4 }), 'reel.mp4', 'video/mp4');
    const text = unique('A Reel through the API');
    const reel = await t.api('POST', '/v1/posts', { containers: [{ content: text, media: [{ id: video }] }], accounts: [accountId], instagram: { shareToFeed: true } });
    expect(reel.status, JSON.stringify(reel.body)).toBe(201);
    const post = await settled(reel.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const media = meta.instagram.mediaOf(IG_FB).find((m) => m.caption === text)!;
    expect(media).toMatchObject({ productType: 'REELS' });
    expect(media.params.share_to_feed).toBe('true');
  });

  it('publishes through Ocoya’s POST /post with a media URL', async () => {
    const headers = { 'x-api-key': t.apiKey, 'content-type': 'application/json' };
    const [workspace] = (await (await fetch(`${t.url}/api/_public/v1/workspaces`, { headers })).json()) as { id: string }[];
    const path = `/media/${randomBytes(8).toString('hex')}.jpg`;
    served.set(path, makeJpeg(1080, 1080));
    const caption = unique('From Ocoya');
    const res = await fetch(`${t.url}/api/_public/v1/post?workspaceId=${workspace.id}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ caption, mediaUrls: [`${filesOrigin}${path}`], socialProfileIds: [accountId], scheduledAt: new Date().toISOString() }),
    });
    const body = (await res.json()) as { postGroupId: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    const post = await settled(body.postGroupId);
    expect(post.status, JSON.stringify(post)).toBe('published');
    expect(meta.instagram.mediaOf(IG_FB).some((m) => m.caption === caption)).toBe(true);
  });

  it('waits out the daily cap, in Instagram’s words, and publishes once the window has passed', async () => {
    meta.instagram.settings.quotaTotal = meta.instagram.mediaOf(IG_FB).length;
    const photo = await upload(makeJpeg(1080, 1080), 'square.jpg', 'image/jpeg');
    const caption = unique('Capped');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: caption, media: [{ id: photo }] }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    let target: typeof postTargets.$inferSelect | undefined;
    for (let i = 0; i < 300 && !target?.errorCategory; i++) {
      [target] = await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, created.body.post.id));
      if (!target?.errorCategory) await new Promise((r) => setTimeout(r, 100));
    }
    expect(target).toMatchObject({ status: 'publishing', errorCategory: 'quota_exhausted', attempts: 1 });
    expect(target!.error).toMatch(/posts Instagram allows through the API in 24 hours/);
    expect(target!.dueAt!.getTime() - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(meta.instagram.mediaOf(IG_FB).some((m) => m.caption === caption)).toBe(false);

    // The window passes: the cap has room again, and the target goes out when it is due.
    meta.instagram.settings.quotaTotal = 100;
    await t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.id, target!.id));
    const post = await settled(created.body.post.id);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published', attempts: 2 });
    expect(meta.instagram.mediaOf(IG_FB).filter((m) => m.caption === caption)).toHaveLength(1);
  });

  it('answers metrics and publishing options for the account', async () => {
    const metrics = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(JSON.stringify(metrics.body)).toContain('1234');
    expect(JSON.stringify(metrics.body)).toContain('"reach":900');
    const options = await t.api('GET', `/v1/social-accounts/${accountId}/publishing-options`);
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(JSON.stringify(options.body)).toMatch(/"postsLeft":\d+/);
  });

  it('calls Instagram’s Graph through the proxy with the Page token and its proof', async () => {
    const n = meta.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/v26.0/${IG_FB}?fields=followers_count,media_count`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: IG_FB, followers_count: 1234 });
    const call = meta.state.calls.slice(n).find((c) => c.path === `/v26.0/${IG_FB}`)!;
    expect(call.query.appsecret_proof).toBe(appSecretProof(call.query.access_token, FB_APP.secret));
  });

  it('refuses at preflight what Instagram cannot take, naming the account', async () => {
    const png = await upload(makePng(64, 64), 'square.png', 'image/png');
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'A PNG', media: [{ id: png }] }], accounts: [accountId] });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/gina\.shop|Instagram/);
    const long = await t.api('POST', '/v1/posts', { containers: [{ content: 'x'.repeat(2201), media: [{ id: await upload(makeJpeg(1080, 1080), 'a.jpg', 'image/jpeg') }] }], accounts: [accountId] });
    expect(long.status).toBe(400);
    expect(JSON.stringify(long.body.details)).toContain('2200');
  });
});

describe('through our API (Instagram Login)', () => {
  let t: TestServer;
  let accountId: string;

  beforeAll(async () => {
    // Instagram Login never needs graph.facebook.com: it goes nowhere here.
    const upstreams = { ...metaUpstreams(meta), 'https://graph.facebook.com': 'http://127.0.0.1:9' };
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(upstreams) }, { worker: true });
    meta.allowRedirectUri(`${t.url}/oauth/instagram/callback`);
    await configureNetwork(t, 'instagram', {
      client_key: IG_APP.id,
      client_secret: IG_APP.secret,
      options: { login: 'instagram' },
      scopes: ['instagram_business_basic', 'instagram_business_content_publish', 'instagram_business_manage_comments', 'instagram_business_manage_insights'],
    });
    meta.signInInstagram(IG_IG);
    const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-ivy' }));
    accountId = params.get('account_id')!;
    expect(accountId, params.toString()).toBeTruthy();
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const settled = (id: string) => settledPost(t, id);

  it('publishes a carousel with a first comment on graph.instagram.com, without a proof', async () => {
    const ids: string[] = [];
    for (const name of ['one.jpg', 'two.jpg']) {
      const created = await t.api('POST', '/v1/media/upload', { filename: name });
      await fetch(created.body.data.upload_url, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: makeJpeg(1080, 1080) });
      const confirmed = await t.api('POST', `/v1/media/${created.body.data.id}/confirm`, {});
      ids.push((confirmed.body.data ?? confirmed.body).id);
    }
    const n = meta.state.calls.length;
    const text = unique('A carousel via Instagram Login');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: text, media: ids.map((id) => ({ id })) }, { content: 'First!' }], accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const media = meta.instagram.mediaOf(IG_IG).find((m) => m.caption === text)!;
    expect(media).toMatchObject({ mediaType: 'CAROUSEL_ALBUM' });
    expect([...meta.instagram.comments.values()].some((c) => c.mediaId === media.id && c.text === 'First!')).toBe(true);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published', platformPostId: media.id, platformPostUrl: `https://www.instagram.com/p/${media.shortcode}/` });
    expect(meta.state.calls.slice(n).every((c) => c.query.appsecret_proof === undefined)).toBe(true);
  });

  it('makes a scheduled post’s container ahead of its instant, and publishes that container at the instant', async () => {
    const created = await t.api('POST', '/v1/media/upload', { filename: 'ahead.jpg' });
    await fetch(created.body.data.upload_url, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: makeJpeg(1080, 1080) });
    const photo = ((await t.api('POST', `/v1/media/${created.body.data.id}/confirm`, {})).body.data ?? {}).id;
    const text = unique('Scheduled, its container made ahead');
    // Inside the five minutes ahead that Instagram's containers are made.
    const scheduledAt = new Date(Date.now() + 300_000 + 3_000).toISOString();
    const post = await t.api('POST', '/v1/posts', { containers: [{ content: text, media: [{ id: photo }] }], accounts: [accountId], scheduledAt });
    expect(post.status, JSON.stringify(post.body)).toBe(201);
    const id = post.body.post.id;
    const targetOf = async () => (await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, id)))[0];
    const containersOf = () => [...meta.instagram.containers.values()].filter((c) => c.igUserId === IG_IG && c.params.caption === text);

    // A few seconds later: the container is made and ready, nothing is published, and the target waits for its instant
    // without holding a worker.
    for (let i = 0; !((await targetOf()).parts[0]?.phase === 'processing' && (await targetOf()).leaseUntil === null); i++) {
      if (i > 300) throw new Error(`the container was not made ahead: ${JSON.stringify(await targetOf())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const waiting = await targetOf();
    expect(containersOf()).toHaveLength(1);
    expect(waiting.parts[0].saved).toMatchObject({ containerId: containersOf()[0].id });
    expect(waiting.dueAt!.toISOString()).toBe(scheduledAt);
    expect(meta.instagram.mediaOf(IG_IG).some((m) => m.caption === text)).toBe(false);
    expect((await t.api('GET', `/v1/posts/${id}`)).body.post.status).toBe('publishing');

    // The instant comes (brought nearer here, as the clock would): that container is published, at the instant.
    const instant = new Date(Date.now() + 3_000);
    await t.server.ctx.db.update(posts).set({ scheduledAt: instant }).where(eq(posts.id, id));
    await t.server.ctx.db.update(postTargets).set({ dueAt: instant }).where(eq(postTargets.postId, id));
    const done = await settled(id);
    expect(done.status, JSON.stringify(done)).toBe('published');
    const media = meta.instagram.mediaOf(IG_IG).filter((m) => m.caption === text);
    expect(media).toHaveLength(1);
    expect(media[0].containerId).toBe(waiting.parts[0].saved.containerId);
    expect(media[0].timestamp).toBeGreaterThanOrEqual(instant.getTime());
    expect(containersOf()).toHaveLength(1);
  });

  it('reads metrics and calls graph.instagram.com through the proxy with the Instagram token', async () => {
    const metrics = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(JSON.stringify(metrics.body)).toContain('"reach":900');
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/v26.0/${IG_IG}?fields=followers_count`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: IG_IG, followers_count: 1234 });
  });
});
