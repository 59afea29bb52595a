// TikTok publishing, the adapter against the TikTok emulator through the upstream client's origin map: creator info
// before every direct post, direct posts and inbox uploads of videos (FILE_UPLOAD in chunks read by range from the
// store, PULL_FROM_URL from a verified prefix, falling back to uploading), photo posts (pulled), status polling across
// calls until moderation gives the public id, every error code and fail_reason classified, an unaudited app's limits,
// reconciliation after a lost answer, no deletion, metrics; then the same through our HTTP API and the worker.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTikTokAdapter } from '../../src/providers/tiktok/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import {
  PublishError,
  type AccountMetrics,
  type NetworkAdapter,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
  type SavedProgress,
} from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { makeJpeg, makeMp4 } from '../helpers/media-fixtures.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { startTikTokEmulator, TIKTOK_ORIGINS, tiktokFailures, type TikTokEmulator, type TikTokUser } from '../emulators/tiktok.ts';

const APP = { clientKey: 'awx7k2pq9z3m1n8b', clientSecret: 'tiktok-client-secret' };
const MiB = 1024 * 1024;
const NAMES = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kit', 'lou', 'max', 'ned', 'oli', 'pia', 'quin', 'rae', 'sam', 'tom', 'uma', 'vic', 'wes'];
/** Odd-numbered users (ben, dora, fay, hal, jon, lou, ned, pia, rae, tom, vic) have private accounts. */
const USERS: TikTokUser[] = NAMES.map((name, i) => ({
  openId: `-000${i}Ab3xYz-${name}-open-id`,
  unionId: `union-${name}`,
  username: `${name}.tok`,
  displayName: `${name[0].toUpperCase()}${name.slice(1)} on TikTok`,
  isPrivate: i % 2 === 1,
  followerCount: 1000 + i,
  followingCount: 10 + i,
  likesCount: 50_000 + i,
  videoCount: 7 + i,
}));
const user = (name: string) => USERS.find((u) => u.username === `${name}.tok`)!;

let tiktok: TikTokEmulator;
let adapter: NetworkAdapter;
let publishing: NetworkPublishing;
/** Serves files for TikTok to pull (photos, PULL_FROM_URL videos), as PUBLIC_URL would. */
let files: Server;
let filesOrigin: string;
const served = new Map<string, Buffer>();

beforeAll(async () => {
  tiktok = await startTikTokEmulator({ app: APP, users: USERS });
  const origins = Object.fromEntries(TIKTOK_ORIGINS.map((o) => [o, tiktok.origin]));
  const upstream = new UpstreamClient(origins, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createTikTokAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v23.0' } });
  publishing = adapter.publishing!;
  files = createServer((req, res) => {
    const bytes = served.get(req.url ?? '');
    if (!bytes) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await tiktok?.close();
  await new Promise((resolve) => files?.close(resolve));
});
beforeEach(() => {
  Object.assign(tiktok.posting, { audited: true, verifiedUrlPrefixes: [`${filesOrigin}/verified/`], processingPolls: 1, moderationPolls: 1, failReasons: [], postsPerDay: 100 });
  tiktok.posting.loseNextAnswer = { init: false, upload: false };
});

/** What the engine does for one part, with what it was told kept for the test to look at. */
class Target {
  saved: SavedProgress = {};
  beforeCreateCalls: SavedProgress[] = [];
  readonly parts: PublishedPart[] = [];
  constructor(
    readonly name: string,
    readonly options: Record<string, unknown> = {},
    readonly appOptions: Record<string, unknown> = { audited: true },
    readonly token = tiktok.issueToken(user(name).openId),
  ) {}

  get context() {
    return {
      app: { clientId: APP.clientKey, clientSecret: APP.clientSecret, scopes: [], options: this.appOptions },
      accessToken: this.token,
      account: { networkUniqueId: user(this.name).openId, username: user(this.name).username, accountType: 'personal' as const, metadata: {} },
      options: this.options,
    };
  }

  input(container: PublishContainer): PartInput {
    return {
      ...this.context,
      container,
      root: null,
      previous: null,
      saved: structuredClone(this.saved),
      beforeCreate: async (saved) => {
        this.saved = structuredClone(saved);
        this.beforeCreateCalls.push(structuredClone(saved));
      },
      save: async (saved) => {
        this.saved = structuredClone(saved);
      },
    };
  }

  async publishOnce(container: PublishContainer): Promise<PartOutcome> {
    const outcome = await publishing.publishPart(this.input(container));
    if (outcome.status === 'published') {
      this.parts.push(outcome.part);
      this.saved = {};
    } else {
      this.saved = structuredClone(outcome.saved);
    }
    return outcome;
  }

  /** Publishes, calling again (without waiting) while TikTok is processing; how many calls it took. */
  async publish(container: PublishContainer): Promise<{ part: PublishedPart; calls: number }> {
    for (let calls = 1; calls < 10; calls++) {
      const outcome = await this.publishOnce(container);
      if (outcome.status === 'published') return { part: outcome.part, calls };
    }
    throw new Error('still processing');
  }

  publishes() {
    return [...tiktok.posting.publishes.values()].filter((p) => p.openId === user(this.name).openId);
  }

  check(containers: PublishContainer[]) {
    return publishing.check!({ containers, options: this.options, account: this.context.account });
  }

  checkAtNetwork(containers: PublishContainer[]) {
    return publishing.checkAtNetwork!({ ...this.context, containers });
  }
}

const container = (text: string, media: PublishMedia[] = []): PublishContainer => ({ index: 0, text, media });
const video = (bytes = 3 * MiB, facts: { durationSeconds?: number; url?: string } = {}) =>
  mediaFromBytes(Buffer.alloc(bytes, 3), { kind: 'video', contentType: 'video/mp4', width: 1080, height: 1920, durationSeconds: facts.durationSeconds ?? 12, url: facts.url });
function photo(name: string, where: 'verified' | 'elsewhere' = 'verified') {
  const bytes = makeJpeg(1080, 1350);
  served.set(`/${where}/${name}`, bytes);
  return mediaFromBytes(bytes, { kind: 'image', contentType: 'image/jpeg', width: 1080, height: 1350, filename: name, url: `${filesOrigin}/${where}/${name}` });
}
function servedVideo(name: string, where: 'verified' | 'elsewhere', bytes = 2 * MiB) {
  const media = video(bytes, { url: `${filesOrigin}/${where}/${name}` });
  served.set(`/${where}/${name}`, Buffer.alloc(bytes, 3));
  return media;
}

/** Media whose every read of the store is recorded. */
function recordingReads(media: PublishMedia) {
  const reads: Array<{ start: number; end: number } | 'whole'> = [];
  const open = media.open;
  return { reads, media: { ...media, open: async (range?: { start: number; end: number }): Promise<Readable> => (reads.push(range ?? 'whole'), open(range)) } };
}

async function publishError(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

const callsTo = (path: string, since = 0) => tiktok.state.calls.slice(since).filter((c) => c.path === path);

describe('direct posts of videos', () => {
  it('asks creator info first, uploads in chunks read by range from the store, and waits through processing and moderation for the public id', async () => {
    const ada = new Target('ada', { privacyLevel: 'PUBLIC_TO_EVERYONE', disableStitch: true, videoCoverTimestampMs: 1500, isAigc: true });
    const since = tiktok.state.calls.length;
    const { media, reads } = recordingReads(video(25 * MiB));
    const { part, calls } = await ada.publish(container('Morning swim #lake', [media]));

    // Creator info, then the init: TikTok's order.
    const order = tiktok.state.calls.slice(since).map((c) => c.path);
    expect(order.indexOf('/v2/post/publish/creator_info/query/')).toBeLessThan(order.indexOf('/v2/post/publish/video/init/'));
    const [publish] = ada.publishes();
    expect(publish).toMatchObject({
      postMode: 'DIRECT_POST',
      source: 'FILE_UPLOAD',
      postInfo: { title: 'Morning swim #lake', privacy_level: 'PUBLIC_TO_EVERYONE', disable_stitch: true, video_cover_timestamp_ms: 1500, is_aigc: true },
      // 10 MiB chunks, the last taking the trailing bytes.
      sourceInfo: { source: 'FILE_UPLOAD', video_size: 25 * MiB, chunk_size: 10 * MiB, total_chunk_count: 2 },
      uploadedBytes: 25 * MiB,
      chunksReceived: 2,
    });
    expect(reads).toEqual([
      { start: 0, end: 10 * MiB - 1 },
      { start: 10 * MiB, end: 25 * MiB - 1 },
    ]);
    // Processing, then moderation, then the public id: three calls, each handed back to the engine in between.
    expect(calls).toBe(3);
    expect(part).toEqual({ id: publish.postId, url: `https://www.tiktok.com/@ada.tok/video/${publish.postId}`, data: { publishId: publish.id } });
    expect(publish.postId).toMatch(/^\d{19}$/);
    // The one request that makes the post (the last chunk) was announced to the engine first, with the publish_id.
    expect(ada.beforeCreateCalls).toHaveLength(1);
    expect(ada.beforeCreateCalls[0]).toMatchObject({ stage: 'sent', publishId: publish.id, chunksSent: 1 });
  });

  it("keeps off the interactions the creator turned off, and refuses a post that asks for them", async () => {
    tiktok.creatorOf(user('ben').openId).duetDisabled = true;
    tiktok.creatorOf(user('ben').openId).commentDisabled = true;
    const ben = new Target('ben', { privacyLevel: 'FOLLOWER_OF_CREATOR' });
    await ben.publish(container('Private-account post', [video()]));
    expect(ben.publishes()[0].postInfo).toMatchObject({ disable_duet: true, disable_comment: true, privacy_level: 'FOLLOWER_OF_CREATOR' });
    expect(ben.publishes()[0].postInfo).not.toHaveProperty('disable_stitch');

    const asking = new Target('ben', { privacyLevel: 'FOLLOWER_OF_CREATOR', disableDuet: false });
    expect(await asking.checkAtNetwork([container('x', [video()])])).toEqual([expect.stringContaining("Duets are turned off in @ben.tok's TikTok settings")]);
    tiktok.creatorOf(user('ben').openId).duetDisabled = false;
    tiktok.creatorOf(user('ben').openId).commentDisabled = false;
  });

  it('uploads a video under 5 MB whole, and settles a non-public post at PUBLISH_COMPLETE without a public id', async () => {
    const dora = new Target('dora', { privacyLevel: 'SELF_ONLY' }, { audited: false });
    const { media, reads } = recordingReads(video(3 * MiB));
    const { part, calls } = await dora.publish(container('Just for me', [media]));
    const [publish] = dora.publishes();
    expect(publish.sourceInfo).toMatchObject({ video_size: 3 * MiB, chunk_size: 3 * MiB, total_chunk_count: 1 });
    expect(reads).toEqual([{ start: 0, end: 3 * MiB - 1 }]);
    expect(calls).toBe(2);
    expect(part).toEqual({ id: publish.id, url: null, data: { publishId: publish.id } });
  });

  it('asks creator info again when the post goes out, refusing what changed since it was accepted', async () => {
    const cleo = new Target('cleo', { privacyLevel: 'PUBLIC_TO_EVERYONE' });
    const clip = video(2 * MiB, { durationSeconds: 200 });
    expect(await cleo.checkAtNetwork([container('Long one', [clip])])).toEqual([]);
    tiktok.creatorOf(user('cleo').openId).maxVideoPostDurationSec = 180;
    const err = await publishError(cleo.publishOnce(container('Long one', [clip])));
    expect(err.category).toBe('user_content');
    expect(err.message).toBe('@cleo.tok can post videos of at most 180 seconds; file.mp4 is 200 seconds.');
    expect(cleo.publishes()).toHaveLength(0);
    tiktok.creatorOf(user('cleo').openId).maxVideoPostDurationSec = 600;
  });
});

describe('inbox uploads', () => {
  it('sends the video to the creator’s inbox with only source_info, and settles at SEND_TO_USER_INBOX', async () => {
    const eli = new Target('eli');
    const since = tiktok.state.calls.length;
    const { part } = await eli.publish(container('Finish me in the app', [video()]));
    const [publish] = eli.publishes();
    expect(publish).toMatchObject({ postMode: 'MEDIA_UPLOAD', status: 'SEND_TO_USER_INBOX', postInfo: {} });
    expect(part).toEqual({ id: publish.id, url: null, data: { publishId: publish.id, inbox: true } });
    // The inbox needs no creator info.
    expect(callsTo('/v2/post/publish/creator_info/query/', since)).toHaveLength(0);
    expect(callsTo('/v2/post/publish/inbox/video/init/', since)).toHaveLength(1);
  });

  it('needs video.upload for the inbox and video.publish for a direct post: without them, permission_missing', async () => {
    const withoutUpload = tiktok.issueToken(user('fay').openId, ['user.info.basic', 'video.publish']);
    const inbox = await publishError(new Target('fay', {}, { audited: true }, withoutUpload).publishOnce(container('x', [video(1 * MiB)])));
    expect(inbox).toMatchObject({ category: 'permission_missing', platformCode: 'scope_not_authorized' });
    const withoutPublish = tiktok.issueToken(user('fay').openId, ['user.info.basic', 'video.upload']);
    const direct = await publishError(new Target('fay', { privacyLevel: 'SELF_ONLY' }, { audited: true }, withoutPublish).publishOnce(container('x', [video(1 * MiB)])));
    expect(direct).toMatchObject({ category: 'permission_missing', platformCode: 'scope_not_authorized' });
  });

  it('refuses a sixth pending inbox share in a day as quota_exhausted, in plain words', async () => {
    const fay = new Target('fay', { postMode: 'MEDIA_UPLOAD' });
    for (let i = 0; i < 5; i++) await fay.publish(container(`draft ${i}`, [video(1 * MiB)]));
    const err = await publishError(fay.publishOnce(container('one too many', [video(1 * MiB)])));
    expect(err).toMatchObject({ category: 'quota_exhausted', platformCode: 'spam_risk_too_many_pending_share' });
    expect(err.message).toContain('TikTok allows 5 pending in 24 hours');
  });
});

describe('pulling from a URL', () => {
  it('posts photos by PULL_FROM_URL with their title, description and cover', async () => {
    const gus = new Target('gus', { privacyLevel: 'PUBLIC_TO_EVERYONE', title: 'Trip', photoCoverIndex: 1, autoAddMusic: true });
    tiktok.posting.moderationPolls = 0;
    const photos = [photo('a.jpg'), photo('b.jpg'), photo('c.jpg')];
    const { part } = await gus.publish(container('Three days in the hills', photos));
    const [publish] = gus.publishes();
    expect(publish).toMatchObject({
      mediaType: 'PHOTO',
      postMode: 'DIRECT_POST',
      postInfo: { title: 'Trip', description: 'Three days in the hills', privacy_level: 'PUBLIC_TO_EVERYONE', auto_add_music: true },
      sourceInfo: { source: 'PULL_FROM_URL', photo_images: photos.map((p) => p.url), photo_cover_index: 1 },
      downloadedBytes: photos.reduce((n, p) => n + p.size, 0),
    });
    expect(part.url).toBe(`https://www.tiktok.com/@gus.tok/photo/${publish.postId}`);
    // A pull's init is the request that makes the post.
    expect(gus.beforeCreateCalls).toEqual([expect.objectContaining({ stage: 'sent', source: 'PULL_FROM_URL' })]);
  });

  it('refuses photos from a domain the app has not verified, saying what the organization must verify', async () => {
    const hal = new Target('hal', { privacyLevel: 'SELF_ONLY' });
    const err = await publishError(hal.publishOnce(container('Unverified', [photo('d.jpg', 'elsewhere')])));
    expect(err).toMatchObject({ category: 'app_not_approved', platformCode: 'url_ownership_unverified' });
    expect(err.message).toContain(`the organization must verify ${filesOrigin} (the domain of PUBLIC_URL) as a URL property in the TikTok developer portal`);
  });

  it('lets TikTok pull a video from a verified prefix when configured to', async () => {
    const ivy = new Target('ivy', { privacyLevel: 'SELF_ONLY' }, { audited: true, videoSource: 'PULL_FROM_URL' });
    const clip = servedVideo('v.mp4', 'verified');
    const { part } = await ivy.publish(container('Pulled', [clip]));
    const [publish] = ivy.publishes();
    expect(publish).toMatchObject({ source: 'PULL_FROM_URL', sourceInfo: { video_url: clip.url }, downloadedBytes: clip.size, status: 'PUBLISH_COMPLETE' });
    expect(part.id).toBe(publish.id);
  });

  it('uploads the video instead when TikTok refuses to pull from an unverified domain', async () => {
    const jon = new Target('jon', { privacyLevel: 'SELF_ONLY' }, { audited: true, videoSource: 'PULL_FROM_URL' });
    const since = tiktok.state.calls.length;
    await jon.publish(container('Fallback', [servedVideo('w.mp4', 'elsewhere')]));
    expect(callsTo('/v2/post/publish/video/init/', since)).toHaveLength(2);
    expect(jon.publishes()).toEqual([expect.objectContaining({ source: 'FILE_UPLOAD', status: 'PUBLISH_COMPLETE' })]);
  });
});

describe('preflight', () => {
  it('refuses at once what a TikTok post cannot carry, in plain words', () => {
    const clip = video();
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY' }).check([container('x'.repeat(2201), [clip])])).toEqual(["A TikTok video's caption is at most 2200 characters (this one has 2201)."]);
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY', title: 'Nope' }).check([container('x', [clip])])).toEqual(["title is for TikTok photo posts: a video's caption is the post's text."]);
    expect(new Target('kit', { postMode: 'DIRECT_POST' }).check([container('x', [clip])])[0]).toContain('TikTok needs a privacy level for a direct post');
    expect(new Target('kit', { postMode: 'MEDIA_UPLOAD', privacyLevel: 'SELF_ONLY' }).check([container('x', [clip])])[0]).toContain('privacyLevel apply only to a direct post');
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY', brandContentToggle: true }).check([container('x', [clip])])).toEqual([
      'Branded content (brandContentToggle) cannot be private on TikTok: choose a privacy level other than SELF_ONLY.',
    ]);
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY', photoCoverIndex: 2 }).check([container('x', [photo('e.jpg'), photo('f.jpg')])])).toEqual([
      'photoCoverIndex 2 names no photo: this post has 2 (counted from 0).',
    ]);
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY', title: 'y'.repeat(91) }).check([container('x', [photo('g.jpg')])])).toEqual([
      "A TikTok photo post's title is at most 90 characters (this one has 91).",
    ]);
    expect(new Target('kit', { privacyLevel: 'SELF_ONLY', videoCoverTimestampMs: 13_000 }).check([container('x', [clip])])).toEqual([
      'videoCoverTimestampMs 13000 is past the end of the video (12000 ms).',
    ]);
    expect(publishing.optionsSchema!.safeParse({ privacyLevel: 'PUBLIC' }).success).toBe(false);
    expect(publishing.rules).toMatchObject({ laterContainers: 'none', maxContainers: 1, media: { required: 'any', mixKinds: false, image: { contentTypes: ['image/jpeg', 'image/webp'] } } });
  });

  it('asks creator info: a privacy level the creator lacks, a video too long, an unaudited app posting publicly or from a public account', async () => {
    const long = video(1 * MiB, { durationSeconds: 700 });
    expect(await new Target('kit', { privacyLevel: 'FOLLOWER_OF_CREATOR' }).checkAtNetwork([container('x', [long])])).toEqual([
      '@kit.tok cannot post with privacy level FOLLOWER_OF_CREATOR: TikTok offers this account PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY.',
      '@kit.tok can post videos of at most 600 seconds; file.mp4 is 700 seconds.',
    ]);
    const unaudited = await new Target('kit', { privacyLevel: 'PUBLIC_TO_EVERYONE' }, { audited: false }).checkAtNetwork([container('x', [video()])]);
    expect(unaudited).toHaveLength(2);
    expect(unaudited[0]).toContain("TikTok refuses public posts from an app it has not audited (unaudited_client_can_only_post_to_private_accounts)");
    expect(unaudited[1]).toContain('@kit.tok is a public TikTok account, and an app TikTok has not audited can post only to private accounts');
    // A private account posting SELF_ONLY is what an unaudited app may do.
    expect(await new Target('lou', { privacyLevel: 'SELF_ONLY' }, { audited: false }).checkAtNetwork([container('x', [video()])])).toEqual([]);
    // The inbox does not need creator info at all.
    const since = tiktok.state.calls.length;
    expect(await new Target('kit').checkAtNetwork([container('x', [long])])).toEqual([]);
    expect(callsTo('/v2/post/publish/creator_info/query/', since)).toHaveLength(0);
  });

  it('refuses a creator TikTok banned from posting, and accepts (by throwing) when creator info cannot be asked now', async () => {
    const max = new Target('max', { privacyLevel: 'SELF_ONLY' });
    tiktok.failNext('creator_info', tiktokFailures.posting(403, 'spam_risk_user_banned_from_posting', 'The user is banned from posting.'));
    expect(await max.checkAtNetwork([container('x', [video()])])).toEqual(['TikTok has banned this account from posting. (The user is banned from posting.)']);
    tiktok.failNext('creator_info', tiktokFailures.serverError());
    await expect(max.checkAtNetwork([container('x', [video()])])).rejects.toMatchObject({ category: 'platform_error' });
  });

  it('describes what the account may choose: TikTok’s lists, and what an unaudited app can use of them', async () => {
    const publicAccount = await publishing.describeOptions!(new Target('oli', {}, { audited: false }).context);
    expect(publicAccount).toEqual({
      creatorUsername: 'oli.tok',
      creatorNickname: 'Oli on TikTok',
      creatorAvatarUrl: expect.stringContaining(user('oli').openId),
      privacyLevelOptions: ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'],
      usablePrivacyLevels: [],
      commentDisabled: false,
      duetDisabled: false,
      stitchDisabled: false,
      maxVideoPostDurationSec: 600,
      postModes: ['DIRECT_POST', 'MEDIA_UPLOAD'],
      appAudited: false,
    });
    expect((await publishing.describeOptions!(new Target('ned', {}, { audited: false }).context)).usablePrivacyLevels).toEqual(['SELF_ONLY']);
    expect((await publishing.describeOptions!(new Target('ned').context)).usablePrivacyLevels).toEqual(['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']);
  });
});

describe('errors', () => {
  const cases: Array<[number, string, string]> = [
    [401, 'access_token_invalid', 'auth_expired'],
    [401, 'scope_not_authorized', 'permission_missing'],
    [401, 'scope_permission_missed', 'permission_missing'],
    [429, 'rate_limit_exceeded', 'rate_limited'],
    [403, 'spam_risk_too_many_posts', 'quota_exhausted'],
    [403, 'spam_risk_too_many_pending_share', 'quota_exhausted'],
    [403, 'reached_active_user_cap', 'quota_exhausted'],
    [403, 'spam_risk_user_banned_from_posting', 'platform_rejected'],
    [403, 'spam_risk', 'platform_rejected'],
    [403, 'spam_risk_text', 'user_content'],
    [403, 'unaudited_client_can_only_post_to_private_accounts', 'app_not_approved'],
    [403, 'url_ownership_unverified', 'app_not_approved'],
    [403, 'privacy_level_option_mismatch', 'user_content'],
    [400, 'invalid_params', 'user_content'],
    [400, 'invalid_file_upload', 'user_content'],
    [500, 'internal_error', 'platform_error'],
    [503, 'something_new', 'platform_error'],
  ];
  it.each(cases)('classifies an init answered %i %s as %s', async (status, code, category) => {
    tiktok.failNext('init', tiktokFailures.posting(status, code, `TikTok says ${code}`));
    const err = await publishError(new Target('quin', { privacyLevel: 'PUBLIC_TO_EVERYONE' }).publishOnce(container('x', [video(1 * MiB)])));
    expect(err).toMatchObject({ category, platformCode: code });
    expect(err.message).toContain(`TikTok says ${code}`);
  });

  it("retries a rate limit at TikTok's Retry-After", async () => {
    tiktok.failNext('init', tiktokFailures.rateLimited(90));
    const err = await publishError(new Target('quin', { privacyLevel: 'PUBLIC_TO_EVERYONE' }).publishOnce(container('x', [video(1 * MiB)])));
    expect(err).toMatchObject({ category: 'rate_limited', retryAfterSeconds: 90 });
  });

  it('meets the real refusals: the daily cap, an unaudited app posting publicly, a privacy level the account lacks', async () => {
    tiktok.posting.postsPerDay = 0;
    const capped = await publishError(new Target('quin', { privacyLevel: 'SELF_ONLY' }).publishOnce(container('x', [video(1 * MiB)])));
    expect(capped).toMatchObject({ category: 'quota_exhausted', platformCode: 'spam_risk_too_many_posts' });
    tiktok.posting.postsPerDay = 100;
    // The organization says the app is audited; TikTok knows better.
    tiktok.posting.audited = false;
    const unaudited = await publishError(new Target('sam', { privacyLevel: 'PUBLIC_TO_EVERYONE' }).publishOnce(container('x', [video(1 * MiB)])));
    expect(unaudited).toMatchObject({ category: 'app_not_approved', platformCode: 'unaudited_client_can_only_post_to_private_accounts' });
  });

  const reasons: Array<[string, string]> = [
    ['file_format_check_failed', 'user_content'],
    ['duration_check_failed', 'user_content'],
    ['frame_rate_check_failed', 'user_content'],
    ['picture_size_check_failed', 'user_content'],
    ['internal', 'platform_error'],
    ['video_pull_failed', 'media_unreachable'],
    ['photo_pull_failed', 'media_unreachable'],
    ['publish_cancelled', 'platform_rejected'],
    ['auth_removed', 'auth_expired'],
    ['spam_risk_too_many_posts', 'quota_exhausted'],
    ['spam_risk_user_banned_from_posting', 'platform_rejected'],
    ['spam_risk_text', 'user_content'],
    ['spam_risk', 'platform_rejected'],
    ['never_heard_of_it', 'platform_rejected'],
  ];
  it.each(reasons)('classifies a publish FAILED with %s as %s, and starts over on a retry', async (reason, category) => {
    tiktok.posting.failReasons.push(reason);
    const sam = new Target('sam', { privacyLevel: 'PUBLIC_TO_EVERYONE' });
    const err = await publishError(sam.publish(container('x', [video(1 * MiB)])));
    expect(err).toMatchObject({ category, platformCode: reason });
    // Nothing was posted: the progress is cleared, so the engine's retry (or its check) knows nothing is out.
    expect(sam.saved).toEqual({});
    expect(await publishing.findPart!(sam.input(container('x', [video(1 * MiB)])))).toBe('absent');
  });

  it('a FAILED file reads as its file, in plain words', async () => {
    tiktok.posting.failReasons.push('frame_rate_check_failed');
    const err = await publishError(new Target('sam', { privacyLevel: 'SELF_ONLY' }).publish(container('x', [video(1 * MiB)])));
    expect(err.message).toBe("TikTok refused the video's frame rate (it takes 23 to 60 frames a second). (file.mp4)");
  });
});

describe('reconciliation after an unknown outcome', () => {
  it('the last chunk arrived but its answer was lost: TikTok has it all, so it is not sent again and the post settles', async () => {
    const uma = new Target('uma', { privacyLevel: 'PUBLIC_TO_EVERYONE' });
    tiktok.posting.loseNextAnswer.upload = true;
    await expect(uma.publishOnce(container('Lost answer', [video(1 * MiB)]))).rejects.toBeTruthy();
    expect(uma.saved).toMatchObject({ stage: 'sent' });
    expect(await publishing.findPart!(uma.input(container('Lost answer', [video(1 * MiB)])))).toBe('absent');
    const { part } = await uma.publish(container('Lost answer', [video(1 * MiB)]));
    expect(uma.publishes()).toHaveLength(1);
    expect(part.id).toBe(uma.publishes()[0].postId);
    // Found as published when TikTok has finished by the time the engine asks.
    uma.saved = { stage: 'sent', publishId: uma.publishes()[0].id, mode: 'DIRECT_POST', privacyLevel: 'PUBLIC_TO_EVERYONE', source: 'FILE_UPLOAD', videoSize: MiB, chunkSize: MiB, totalChunkCount: 1 };
    expect(await publishing.findPart!(uma.input(container('Lost answer', [video(1 * MiB)])))).toEqual(part);
  });

  it('the last chunk never reached TikTok: that upload can never be posted, so it starts over and posts once', async () => {
    const wes = new Target('wes', { privacyLevel: 'SELF_ONLY' });
    const clip = video(12 * MiB);
    tiktok.failNext('upload', { status: 500, body: {} });
    await expect(wes.publishOnce(container('Lost end', [clip]))).rejects.toMatchObject({ category: 'platform_error' });
    expect(wes.saved).toMatchObject({ stage: 'sent' });
    expect(await publishing.findPart!(wes.input(container('Lost end', [clip])))).toBe('absent');
    const { part } = await wes.publish(container('Lost end', [clip]));
    const [abandoned, posted] = wes.publishes();
    expect(abandoned).toMatchObject({ status: 'PROCESSING_UPLOAD', uploadedBytes: 0 });
    expect(posted).toMatchObject({ status: 'PUBLISH_COMPLETE', uploadedBytes: 12 * MiB });
    expect(wes.publishes()).toHaveLength(2);
    expect(part.id).toBe(posted.id);
  });

  it('resumes an upload where TikTok got to, when the worker died between a chunk and its save', async () => {
    const eli = new Target('eli', { privacyLevel: 'SELF_ONLY' });
    const { media, reads } = recordingReads(video(35 * MiB));
    tiktok.posting.loseNextAnswer.upload = true;
    await expect(eli.publishOnce(container('Long upload', [media]))).rejects.toBeTruthy();
    // TikTok has the first chunk; we never heard so.
    expect(eli.saved).toMatchObject({ stage: 'uploading', chunksSent: 0, totalChunkCount: 3 });
    await eli.publish(container('Long upload', [media]));
    expect(reads).toEqual([
      { start: 0, end: 10 * MiB - 1 },
      { start: 10 * MiB, end: 20 * MiB - 1 },
      { start: 20 * MiB, end: 35 * MiB - 1 },
    ]);
    expect(eli.publishes().at(-1)).toMatchObject({ chunksReceived: 3, status: 'PUBLISH_COMPLETE' });
  });

  it('a pull whose init answer was lost cannot be found: unknown, rather than post twice', async () => {
    const gus = new Target('gus', { privacyLevel: 'PUBLIC_TO_EVERYONE' });
    tiktok.posting.loseNextAnswer.init = true;
    await expect(gus.publishOnce(container('Gone quiet', [photo('h.jpg')]))).rejects.toBeTruthy();
    expect(await publishing.findPart!(gus.input(container('Gone quiet', [photo('h.jpg')])))).toBe('unknown');
    expect(publishing.createIsRepeatable).toBeFalsy();
  });
});

describe('deletion, metrics and the proxy', () => {
  it('has no deletion: TikTok has no API for it', () => {
    expect(publishing.deletePart).toBeUndefined();
  });

  it('reads followers, following, videos and likes with user.info.stats', async () => {
    const m: AccountMetrics = await adapter.metrics!.read({ ...new Target('hal').context, since: new Date(Date.now() - 86400_000), until: new Date() });
    expect(m).toEqual({ followersCount: 1007, followingCount: 17, postsCount: 14, engagement: null, platformSpecific: { likesCount: 50_007 } });
    const call = tiktok.state.calls.filter((c) => c.path === '/v2/user/info/').at(-1)!;
    expect(call.query.fields).toBe('follower_count,following_count,likes_count,video_count');
  });

  it('without user.info.stats, metrics are permission_missing, naming the scope', async () => {
    const token = tiktok.issueToken(user('hal').openId, ['user.info.basic', 'video.publish']);
    const err = await publishError(adapter.metrics!.read({ ...new Target('hal', {}, {}, token).context, since: new Date(0), until: new Date() }));
    expect(err).toMatchObject({ category: 'permission_missing', platformCode: 'scope_not_authorized' });
    expect(err.message).toContain('user.info.stats');
  });

  it('declares open.tiktokapis.com as the proxy origin, with the bearer token', () => {
    expect(adapter.api).toEqual({ origin: 'https://open.tiktokapis.com' });
  });
});

describe('through our API', () => {
  let t: TestServer;
  let publicId: string;
  let privateId: string;
  let workspaceId: string;

  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(Object.fromEntries(TIKTOK_ORIGINS.map((o) => [o, tiktok.origin]))) }, { worker: true });
    tiktok.allowRedirectUri(`${t.url}/oauth/tiktok/callback`);
    await configureNetwork(t, 'tiktok', {
      client_key: APP.clientKey,
      client_secret: APP.clientSecret,
      scopes: ['user.info.basic', 'user.info.profile', 'user.info.stats', 'video.publish', 'video.upload'],
      options: { audited: true },
    });
    const connect = async (name: string) => {
      tiktok.signIn(user(name).openId);
      const params = resultOf(await connectThroughBrowser(t, 'tiktok', { tenant_id: `tenant-${name}` }));
      expect(params.get('status'), params.toString()).toBe('success');
      return params.get('account_id')!;
    };
    publicId = await connect('kit');
    privateId = await connect('lou');
    workspaceId = (await ocoyaCall('GET', '/workspaces')).body[0].id;
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    Object.assign(tiktok.posting, { processingPolls: 0, moderationPolls: 0 });
  });

  const ocoyaCall = (method: string, path: string, body?: unknown) =>
    fetch(`${t.url}/api/_public/v1${path}`, { method, headers: { 'x-api-key': t.apiKey, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined }).then(async (r) => ({
      status: r.status,
      body: (await r.json().catch(() => null)) as any,
    }));

  async function uploadVideo(name: string) {
    const bytes = makeMp4({ width: 720, height: 1280, durationSeconds: 2 });
    const started = await t.api('POST', '/v1/media/upload', { filename: name, content_type: 'video/mp4' });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const put = await fetch(started.body.data.upload_url, { method: 'PUT', body: bytes, headers: { 'content-type': 'video/mp4' } });
    expect(put.status).toBe(200);
    const confirmed = await t.api('POST', `/v1/media/${started.body.data.id}/confirm`, { size: bytes.length });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    return confirmed.body.data as { id: string; url: string; size: number };
  }

  const settled = (id: string) => settledPost(t, id);

  it('publishes a public video through POST /v1/posts: uploaded in chunks, its public URL once moderated', async () => {
    const media = await uploadVideo('clip.mp4');
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: 'Through Switchboard', media: [{ id: media.id }] }], accounts: [publicId], tiktok: { privacyLevel: 'PUBLIC_TO_EVERYONE' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const publish = [...tiktok.posting.publishes.values()].find((p) => p.postInfo.title === 'Through Switchboard')!;
    expect(publish).toMatchObject({ source: 'FILE_UPLOAD', uploadedBytes: media.size, status: 'PUBLISH_COMPLETE' });
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published', platformPostId: publish.postId, platformPostUrl: `https://www.tiktok.com/@kit.tok/video/${publish.postId}` });
    // TikTok has no delete.
    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(JSON.stringify(removed.body)).toContain('not_supported');
  });

  it('sends a video to the creator’s inbox through the Ocoya surface', async () => {
    const media = await uploadVideo('ocoya.mp4');
    const res = await ocoyaCall('POST', `/post?workspaceId=${workspaceId}`, { caption: 'From Ocoya', mediaUrls: [media.url], socialProfileIds: [privateId], scheduledAt: new Date().toISOString() });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const post = await settled(res.body.postGroupId);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const publish = [...tiktok.posting.publishes.values()].find((p) => p.id === post.socialAccounts[0].platformPostId)!;
    expect(publish).toMatchObject({ postMode: 'MEDIA_UPLOAD', status: 'SEND_TO_USER_INBOX', openId: user('lou').openId });
  });

  it('answers metrics and publishing options from TikTok', async () => {
    const metrics = await t.api('GET', `/v1/social-accounts/${publicId}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(metrics.body.data).toMatchObject({ network: 'tiktok', followers_count: user('kit').followerCount, following_count: user('kit').followingCount, posts_count: user('kit').videoCount, platform_specific: { likesCount: user('kit').likesCount } });
    const options = await t.api('GET', `/v1/social-accounts/${privateId}/publishing-options`);
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(options.body.data.options).toMatchObject({ creatorUsername: 'lou.tok', privacyLevelOptions: ['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'], appAudited: true, maxVideoPostDurationSec: 600 });
  });

  it('calls TikTok directly through the proxy with the account’s bearer token', async () => {
    const since = tiktok.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${publicId}/proxy/v2/user/info/?fields=open_id,display_name`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.user).toEqual({ open_id: user('kit').openId, display_name: 'Kit on TikTok' });
    const call = callsTo('/v2/user/info/', since).at(-1)!;
    expect(call.authorization).toMatch(/^Bearer tt_/);
  });

  it('refuses at preflight what TikTok would refuse, naming the account, in plain words', async () => {
    const media = await uploadVideo('refused.mp4');
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'Friends only', media: [{ id: media.id }] }], accounts: [publicId], tiktok: { privacyLevel: 'FOLLOWER_OF_CREATOR' } });
    expect(res.status).toBe(400);
    expect(res.body.details.accounts[publicId]._errors).toEqual([
      '@kit.tok cannot post with privacy level FOLLOWER_OF_CREATOR: TikTok offers this account PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY.',
    ]);
    const textOnly = await t.api('POST', '/v1/posts', { content: 'No video', accounts: [publicId] });
    expect(textOnly.status).toBe(400);
    expect(JSON.stringify(textOnly.body.details.accounts[publicId])).toContain('TikTok needs an image or');
  });
});
