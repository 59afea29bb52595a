// Bluesky publishing, the adapter driven directly against its emulator (the engine's calls, made by hand): a thread
// with images, facets at UTF-8 byte offsets with mentions resolved, link cards, the exactly-once write (a repeat with
// the saved record key makes no second post; findPart tells a written part from an absent one), video through the
// video service's job states, every error classification, and deletion; then once end to end through our HTTP API
// (connect, preflight, POST /v1/posts, the worker, GET /v1/posts/{id}, the proxy, DELETE /v1/posts/{id}/remote).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlueskyAdapter } from '../../src/providers/bluesky/index.ts';
import { createBlueskyClient } from '../../src/providers/bluesky/connection.ts';
import { TID_SYNTAX } from '../../src/providers/bluesky/publishing.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { PublishError, type NetworkAdapter, type PartInput, type PartOutcome, type PublishAccount, type PublishMedia, type SavedProgress } from '../../src/providers/types.ts';
import { publishDue } from '../../src/publishing/engine.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { blueskyUpstreams, PDS_ORIGIN, SELF_HOSTED_PDS, startBlueskyEmulator, type BlueskyEmulator, type BlueskyUser } from '../emulators/bluesky.ts';

const user = (name: string, extra: Partial<BlueskyUser> = {}): BlueskyUser => ({
  did: `did:plc:${name.padEnd(24, '2')}`,
  handle: `${name}.bsky.social`,
  displayName: name,
  password: `${name}-password`,
  appPasswords: [`${name.slice(0, 4)}-efgh-ijkl-mnop`],
  ...extra,
});
const USERS = [user('alice'), user('bob'), user('carol'), user('dave'), user('erin'), user('jules', { pds: SELF_HOSTED_PDS })];
const byName = (name: string) => USERS.find((u) => u.handle === `${name}.bsky.social`)!;
const APP = { clientId: '', clientSecret: undefined, scopes: [], options: {} };

let bsky: BlueskyEmulator;
let adapter: NetworkAdapter;
let client: ReturnType<typeof createBlueskyClient>;

beforeAll(async () => {
  bsky = await startBlueskyEmulator({ users: USERS });
  const upstream = new UpstreamClient(blueskyUpstreams(bsky), 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createBlueskyAdapter({ upstream, versions: { linkedin: '202505', metaGraph: 'v23.0' } });
  client = createBlueskyClient(upstream);
});
afterAll(async () => {
  await bsky?.close();
});

interface Session {
  accessToken: string;
  account: PublishAccount;
  did: string;
}

/** A session made the way the connection makes it: handle → DID → PDS → createSession with the app password. */
async function signIn(name: string): Promise<Session> {
  const u = byName(name);
  const identity = await client.resolve(u.handle);
  const tokens = await client.createSession(identity, u.appPasswords[0]);
  return {
    accessToken: tokens.accessToken,
    did: identity.did,
    account: { networkUniqueId: identity.did, username: identity.handle, accountType: 'personal', metadata: { did: identity.did, pds: identity.pds } },
  };
}

/** One container's input as the engine builds it, with what the adapter asked the engine to keep. */
function partInput(session: Session, container: { text: string; media?: PublishMedia[]; index?: number }, extra: Partial<PartInput> = {}) {
  const kept = { beforeCreate: [] as SavedProgress[], saves: [] as SavedProgress[] };
  const input: PartInput = {
    app: APP,
    accessToken: session.accessToken,
    account: session.account,
    options: {},
    container: { index: container.index ?? 0, text: container.text, media: container.media ?? [] },
    root: null,
    previous: null,
    saved: {},
    beforeCreate: async (saved) => {
      kept.beforeCreate.push(structuredClone(saved));
    },
    save: async (saved) => {
      kept.saves.push(structuredClone(saved));
    },
    ...extra,
  };
  return { input, kept };
}

const publishing = () => adapter.publishing!;
const published = (outcome: PartOutcome) => {
  if (outcome.status !== 'published') throw new Error(`expected published, got ${JSON.stringify(outcome)}`);
  return outcome.part;
};
const rkeyOf = (uri: string) => uri.split('/').pop()!;

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

const png = (bytes: number, facts: { alt?: string; width?: number; height?: number } = {}) =>
  mediaFromBytes(Buffer.alloc(bytes, Math.floor(Math.random() * 255)), { kind: 'image', contentType: 'image/png', width: 1200, height: 800, ...facts });
const mp4 = (seed: string) =>
  mediaFromBytes(Buffer.concat([Buffer.from('\x00\x00\x00\x18ftypmp42'), Buffer.from(seed.repeat(2000))]), {
    kind: 'video',
    contentType: 'video/mp4',
    filename: 'clip.mp4',
    width: 1920,
    height: 1080,
    durationSeconds: 12,
    alt: 'A kite over the beach',
  });

describe('posts and threads', () => {
  it('publishes a two-part thread: the first with two images (alt, aspect ratio), the second a reply to it', async () => {
    const alice = await signIn('alice');
    const first = partInput(alice, { text: 'Two photos from the harbour', media: [png(5000, { alt: 'Boats at dawn' }), png(7000, { alt: undefined, width: 800, height: 1200 })] });
    const root = published(await publishing().publishPart(first.input));

    // The record key was chosen and kept before the one write, and is the post's key.
    expect(first.kept.beforeCreate).toHaveLength(1);
    const rkey = first.kept.beforeCreate[0].rkey as string;
    expect(rkey).toMatch(TID_SYNTAX);
    expect(root.id).toBe(`at://${alice.did}/app.bsky.feed.post/${rkey}`);
    expect(root.url).toBe(`https://bsky.app/profile/${alice.did}/post/${rkey}`);

    const second = partInput(alice, { index: 1, text: 'And the way back.' }, { root, previous: root });
    const reply = published(await publishing().publishPart(second.input));

    const [rootRecord, replyRecord] = bsky.records(alice.did);
    expect(rootRecord.rkey).toBe(rkey);
    expect(rootRecord.value).toMatchObject({ $type: 'app.bsky.feed.post', text: 'Two photos from the harbour' });
    expect(Date.parse(rootRecord.value.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(rootRecord.value.embed.$type).toBe('app.bsky.embed.images');
    expect(rootRecord.value.embed.images.map((i: any) => ({ alt: i.alt, aspectRatio: i.aspectRatio }))).toEqual([
      { alt: 'Boats at dawn', aspectRatio: { width: 1200, height: 800 } },
      // No alt text given: the lexicon requires the field, so it is there, empty.
      { alt: '', aspectRatio: { width: 800, height: 1200 } },
    ]);
    // Each image is a blob this account uploaded, with its bytes' size.
    for (const [i, size] of [5000, 7000].entries()) {
      const ref = rootRecord.value.embed.images[i].image;
      expect(bsky.blob(ref.ref.$link)).toEqual({ did: alice.did, mimeType: 'image/png', size });
    }
    // Raw bodies with the session's access JWT, at the account's PDS.
    const uploads = bsky.state.calls.filter((c) => c.path === '/xrpc/com.atproto.repo.uploadBlob' && c.authorization === `Bearer ${alice.accessToken}`);
    expect(uploads.map((c) => c.server)).toEqual(['pds', 'pds']);

    expect(replyRecord.value.reply).toEqual({ root: { uri: root.id, cid: root.data!.cid }, parent: { uri: root.id, cid: root.data!.cid } });
    expect(reply.data).toEqual({ uri: reply.id, cid: replyRecord.cid });

    // A third reply names the root as root and the second as parent.
    const third = partInput(alice, { index: 2, text: 'Fin.' }, { root, previous: reply });
    published(await publishing().publishPart(third.input));
    expect(bsky.records(alice.did)[2].value.reply).toEqual({ root: { uri: root.id, cid: root.data!.cid }, parent: { uri: reply.id, cid: reply.data!.cid } });
  });

  it('marks links, mentions and hashtags at UTF-8 byte offsets in multibyte text; an unknown handle stays plain text', async () => {
    const alice = await signIn('alice');
    const text = 'Grüße 👋🏽 an @Bob.bsky.social und @nobody.example.com: https://example.com/päth?q=1. #café! #123 (#fin)';
    published(await publishing().publishPart(partInput(alice, { text }, { options: { linkCard: false } }).input));

    const record = bsky.records(alice.did).at(-1)!.value;
    const bytes = Buffer.from(text, 'utf8');
    const marked = record.facets.map((f: any) => ({ text: bytes.subarray(f.index.byteStart, f.index.byteEnd).toString('utf8'), feature: f.features[0] }));
    expect(marked).toEqual([
      { text: '@Bob.bsky.social', feature: { $type: 'app.bsky.richtext.facet#mention', did: byName('bob').did } },
      { text: 'https://example.com/päth?q=1', feature: { $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com/päth?q=1' } },
      // Trailing punctuation is not part of a tag; only digits is not a tag; a tag needs a space (or the start) before it.
      { text: '#café', feature: { $type: 'app.bsky.richtext.facet#tag', tag: 'café' } },
    ]);
    // Bytes, not JavaScript's UTF-16 indices: "Grüße 👋🏽 an " is 14 UTF-16 units but 20 bytes.
    expect(record.facets[0].index.byteStart).toBe(20);
    expect(record.langs).toBeUndefined();
    // The handles were resolved through Bluesky's resolveHandle; the unknown one stayed text.
    const resolved = bsky.state.calls.filter((c) => c.path === '/xrpc/com.atproto.identity.resolveHandle').map((c) => c.query.handle);
    expect(resolved).toEqual(expect.arrayContaining(['bob.bsky.social', 'nobody.example.com']));
  });

  it('adds a link card from Bluesky’s card service to a post with a link and no media, and none when there is no card or it is turned off', async () => {
    const alice = await signIn('alice');
    bsky.setCard('https://example.org/launch', { title: 'We launched', description: 'What is new in 2.0' });
    published(await publishing().publishPart(partInput(alice, { text: 'Read this https://example.org/launch' }, { options: { langs: ['en'] } }).input));
    const withCard = bsky.records(alice.did).at(-1)!.value;
    expect(withCard.embed).toEqual({ $type: 'app.bsky.embed.external', external: { uri: 'https://example.org/launch', title: 'We launched', description: 'What is new in 2.0' } });
    expect(withCard.langs).toEqual(['en']);
    // The page itself was never fetched by us: only the card service was asked.
    expect(bsky.state.calls.some((c) => c.path === '/v1/extract' && c.query.url === 'https://example.org/launch')).toBe(true);

    published(await publishing().publishPart(partInput(alice, { text: 'No card for https://example.org/unknown' }).input));
    expect(bsky.records(alice.did).at(-1)!.value.embed).toBeUndefined();

    published(await publishing().publishPart(partInput(alice, { text: 'Plain https://example.org/launch' }, { options: { linkCard: false } }).input));
    expect(bsky.records(alice.did).at(-1)!.value.embed).toBeUndefined();

    // Media wins over a card.
    published(await publishing().publishPart(partInput(alice, { text: 'Photo and https://example.org/launch', media: [png(900)] }).input));
    expect(bsky.records(alice.did).at(-1)!.value.embed.$type).toBe('app.bsky.embed.images');
  });

  it('declares its rules: 300 graphemes, 4 images or 1 mp4 video, not mixed, later parts as replies; 3,000 bytes checked apart', () => {
    expect(publishing().rules).toMatchObject({
      text: { maxLength: 300, counting: 'graphemes' },
      media: { maxItems: 4, image: { maxCount: 4, maxBytes: 2_000_000 }, video: { maxCount: 1, contentTypes: ['video/mp4'] }, mixKinds: false },
      laterContainers: 'replies',
    });
    expect(publishing().rules.media.gif).toBeUndefined();
    const family = '👨‍👩‍👧‍👦'.repeat(150); // 150 graphemes, 3,750 bytes
    const account = { networkUniqueId: 'did:plc:x', username: null, accountType: 'personal' as const, metadata: {} };
    expect(publishing().check!({ containers: [{ index: 0, text: family, media: [] }], options: {}, account })).toEqual([expect.stringContaining('3750 bytes')]);
    expect(publishing().check!({ containers: [{ index: 0, text: 'short', media: [] }], options: {}, account })).toEqual([]);
    expect(publishing().optionsSchema!.safeParse({ langs: ['en', 'de', 'fr', 'es'] }).success).toBe(false);
    expect(publishing().optionsSchema!.safeParse({ lang: 'en' }).success).toBe(false);
  });
});

describe('exactly once', () => {
  it('a write repeated with the saved record key makes no second post and changes nothing; findPart tells absent from written', async () => {
    const bob = await signIn('bob');
    const before = bsky.records(bob.did).length;
    // The write fails after the key was kept: the outcome is the engine's to find out.
    bsky.failMethod('com.atproto.repo.putRecord', { status: 502, body: { error: 'UpstreamFailure', message: 'Upstream Failure' } });
    const attempt = partInput(bob, { text: 'Exactly once 🎯 #once', media: [png(1500, { alt: 'target' })] });
    const failed = await refusal(publishing().publishPart(attempt.input));
    expect(failed.category).toBe('platform_error');
    const saved = attempt.kept.beforeCreate[0];
    expect(saved.rkey).toMatch(TID_SYNTAX);

    // Nothing was written under that key: safe to create again.
    const retry = partInput(bob, { text: 'Exactly once 🎯 #once', media: [png(1500, { alt: 'target' })] }, { saved });
    expect(await publishing().findPart!(retry.input)).toBe('absent');

    const first = published(await publishing().publishPart(retry.input));
    expect(rkeyOf(first.id)).toBe(saved.rkey);
    // No new key is chosen on a repeat.
    expect(retry.kept.beforeCreate).toEqual([]);

    // The answer was lost (say): the engine repeats with the same saved progress, twice.
    const again = published(await publishing().publishPart(partInput(bob, { text: 'Exactly once 🎯 #once', media: [png(1500, { alt: 'target' })] }, { saved }).input));
    const thrice = published(await publishing().publishPart(partInput(bob, { text: 'Exactly once 🎯 #once', media: [png(1500, { alt: 'target' })] }, { saved }).input));
    expect(again).toEqual(first);
    expect(thrice).toEqual(first);
    expect(bsky.records(bob.did)).toHaveLength(before + 1);
    expect(bsky.publishing.updates).toEqual([]);
    expect(publishing().createIsRepeatable).toBe(true);

    // And findPart now finds it, with the cid a reply needs.
    expect(await publishing().findPart!(partInput(bob, { text: '' }, { saved }).input)).toEqual(first);
  });

  it('a write done whose answer was lost: the repeat finds the post at its key and writes nothing', async () => {
    const bob = await signIn('bob');
    const before = bsky.records(bob.did).length;
    bsky.loseAnswers('com.atproto.repo.putRecord');
    const attempt = partInput(bob, { text: 'Did this go out?' });
    expect((await refusal(publishing().publishPart(attempt.input))).category).toBe('platform_error');
    const saved = attempt.kept.beforeCreate[0];
    // It did: the record is at the saved key.
    expect(bsky.records(bob.did).map((r) => r.rkey)).toContain(saved.rkey);

    const puts = () => bsky.state.calls.filter((c) => c.path === '/xrpc/com.atproto.repo.putRecord').length;
    const putsBefore = puts();
    const part = published(await publishing().publishPart(partInput(bob, { text: 'Did this go out?' }, { saved }).input));
    expect(rkeyOf(part.id)).toBe(saved.rkey);
    expect(part.data!.cid).toBe(bsky.records(bob.did).find((r) => r.rkey === saved.rkey)!.cid);
    expect(puts()).toBe(putsBefore);
    expect(bsky.records(bob.did)).toHaveLength(before + 1);
    expect(await publishing().findPart!(partInput(bob, { text: '' }, { saved }).input)).toEqual(part);
  });
});

describe('video', () => {
  it('goes through the video service: limits, a service token for the PDS, the upload, then job states until the blob is ready', async () => {
    const carol = await signIn('carol');
    const clip = mp4('kite');
    const step = partInput(carol, { text: 'Kite day 🪁', media: [clip] });
    let outcome = await publishing().publishPart(step.input);
    expect(outcome).toMatchObject({ status: 'processing', saved: { videoJobId: expect.any(String) } });
    if (outcome.status !== 'processing') throw new Error('not processing');
    expect(outcome.checkAfterSeconds).toBeGreaterThan(0);
    expect(step.kept.beforeCreate).toEqual([]);

    const upload = bsky.state.calls.find((c) => c.path === '/xrpc/app.bsky.video.uploadVideo')!;
    expect(upload).toMatchObject({ server: 'video', query: { did: carol.did, name: 'clip.mp4' } });
    const serviceAuth = bsky.state.calls.filter((c) => c.path === '/xrpc/com.atproto.server.getServiceAuth').map((c) => c.query);
    expect(serviceAuth).toEqual([
      { aud: 'did:web:video.bsky.app', lxm: 'app.bsky.video.getUploadLimits' },
      { aud: `did:web:${new URL(PDS_ORIGIN).hostname}`, lxm: 'com.atproto.repo.uploadBlob', exp: expect.any(String) },
    ]);

    let processing = 1;
    let saved = outcome.saved;
    let last = step;
    while (outcome.status === 'processing') {
      if (processing > 10) throw new Error('the job never finished');
      saved = outcome.saved;
      last = partInput(carol, { text: 'Kite day 🪁', media: [clip] }, { saved });
      outcome = await publishing().publishPart(last.input);
      if (outcome.status === 'processing') processing++;
    }
    // Created → encoding → scanning → uploading → completed: the engine was told to come back at each state.
    expect(processing).toBe(4);
    const part = published(outcome);
    expect(last.kept.beforeCreate).toHaveLength(1);
    const record = bsky.records(carol.did).find((r) => r.rkey === rkeyOf(part.id))!;
    expect(record.value.embed).toMatchObject({ $type: 'app.bsky.embed.video', alt: 'A kite over the beach', aspectRatio: { width: 1920, height: 1080 } });
    expect(bsky.blob(record.value.embed.video.ref.$link)).toMatchObject({ did: carol.did, mimeType: 'video/mp4' });
    expect(bsky.publishing.videoUploads).toBe(1);

    // The same video again: the service fails the job `already_exists` but hands back the blob, which is used.
    const repeat = partInput(carol, { text: 'Kite day, again', media: [mp4('kite')] });
    const started = await publishing().publishPart(repeat.input);
    if (started.status !== 'processing') throw new Error('not processing');
    const done = published(await publishing().publishPart(partInput(carol, { text: 'Kite day, again', media: [mp4('kite')] }, { saved: started.saved }).input));
    const again = bsky.records(carol.did).find((r) => r.rkey === rkeyOf(done.id))!;
    expect(again.value.embed.video.ref.$link).toBe(record.value.embed.video.ref.$link);
  });

  it('a failed job is the content’s fault and is forgotten for a later retry; no upload allowance is quota_exhausted', async () => {
    const dave = await signIn('dave');
    bsky.failVideoJobs({ error: 'Video is too long', message: 'Video is longer than the allowed duration' });
    try {
      const clip = mp4('too-long');
      let outcome = await publishing().publishPart(partInput(dave, { text: 'Long one', media: [clip] }).input);
      let failure: PublishError | undefined;
      let kept: SavedProgress[] = [];
      for (let i = 0; i < 10 && outcome.status === 'processing'; i++) {
        const next = partInput(dave, { text: 'Long one', media: [clip] }, { saved: outcome.saved });
        try {
          outcome = await publishing().publishPart(next.input);
        } catch (err) {
          failure = err as PublishError;
          kept = next.kept.saves;
          break;
        }
      }
      expect(failure).toBeInstanceOf(PublishError);
      expect(failure!.category).toBe('user_content');
      expect(failure!.message).toContain('Video is longer than the allowed duration');
      expect(failure!.platformCode).toBe('Video is too long');
      expect(kept.at(-1)).toEqual({});
    } finally {
      bsky.failVideoJobs(undefined);
    }

    bsky.setVideoLimits(dave.did, { canUpload: false, message: 'You have reached your daily video upload limit', error: 'daily_limit' });
    const refused = await refusal(publishing().publishPart(partInput(dave, { text: 'One more', media: [mp4('more')] }).input));
    expect(refused).toMatchObject({ category: 'quota_exhausted', message: 'You have reached your daily video upload limit', platformCode: 'daily_limit' });
    expect(bsky.state.calls.filter((c) => c.path === '/xrpc/app.bsky.video.uploadVideo' && c.query.did === dave.did)).toHaveLength(1);
  });
});

describe('errors, classified from Bluesky’s own answers', () => {
  it('a dead session (ExpiredToken), a token Bluesky cannot verify (InvalidToken) and a repo that is not the caller’s (AuthenticationRequired) are auth_expired', async () => {
    const erin = await signIn('erin');
    bsky.endSessions(erin.did);
    const expired = await refusal(publishing().publishPart(partInput(erin, { text: 'hello' }).input));
    expect(expired).toMatchObject({ category: 'auth_expired', platformCode: 'ExpiredToken' });

    const invalid = await refusal(publishing().publishPart(partInput({ ...erin, accessToken: 'not-a-jwt' }, { text: 'hello' }).input));
    expect(invalid).toMatchObject({ category: 'auth_expired', platformCode: 'InvalidToken' });

    const alice = await signIn('alice');
    const elsewhere = { ...alice, account: { ...alice.account, metadata: { ...alice.account.metadata, did: byName('bob').did } } };
    const notOwn = await refusal(publishing().publishPart(partInput(elsewhere, { text: 'hello' }).input));
    expect(notOwn).toMatchObject({ category: 'auth_expired', platformCode: 'AuthenticationRequired' });
  });

  it('429 RateLimitExceeded is rate_limited until ratelimit-reset', async () => {
    const erin = await signIn('erin');
    bsky.exhaustWrites(erin.did);
    const limited = await refusal(publishing().publishPart(partInput(erin, { text: 'too many' }).input));
    expect(limited).toMatchObject({ category: 'rate_limited', platformCode: 'RateLimitExceeded' });
    expect(limited.retryAfterSeconds).toBeGreaterThan(3500);
    expect(limited.retryAfterSeconds).toBeLessThanOrEqual(3601);
  });

  it('an image over the lexicon’s 2,000,000 bytes (BlobTooLarge), an upload over the PDS’s limit (PayloadTooLarge) and a record the lexicon refuses (InvalidRequest) are user_content', async () => {
    const alice = await signIn('alice');
    const tooLarge = await refusal(publishing().publishPart(partInput(alice, { text: 'big', media: [png(2_000_001, { alt: 'big' })] }).input));
    expect(tooLarge).toMatchObject({ category: 'user_content', platformCode: 'BlobTooLarge' });
    expect(tooLarge.message).toMatch(/This file is too large\. It is 1\.91MB but the maximum size is 1953\.1\dKB/);

    bsky.failMethod('com.atproto.repo.uploadBlob', { status: 413, body: { error: 'PayloadTooLarge', message: 'request entity too large' } });
    const payload = await refusal(publishing().publishPart(partInput(alice, { text: 'huge', media: [png(1000)] }).input));
    expect(payload).toMatchObject({ category: 'user_content', platformCode: 'PayloadTooLarge' });

    const long = await refusal(publishing().publishPart(partInput(alice, { text: 'é'.repeat(301) }).input));
    expect(long).toMatchObject({ category: 'user_content', platformCode: 'InvalidRequest' });
    expect(long.message).toContain('300 graphemes');
  });

  it('5xx is platform_error; a self-hosted PDS’s own words are not repeated, only its status and error name', async () => {
    const alice = await signIn('alice');
    bsky.failMethod('com.atproto.repo.putRecord', { status: 503, body: { error: 'InternalServerError', message: 'Internal Server Error' } });
    expect(await refusal(publishing().publishPart(partInput(alice, { text: 'down' }).input))).toMatchObject({ category: 'platform_error', platformCode: 'InternalServerError' });

    const jules = await signIn('jules');
    expect(jules.account.metadata.pds).toBe(SELF_HOSTED_PDS);
    const refused = await refusal(publishing().publishPart(partInput(jules, { text: 'x'.repeat(301) }).input));
    expect(refused).toMatchObject({ category: 'user_content', platformCode: 'InvalidRequest', message: "The account's home server (PDS) refused the request (HTTP 400, InvalidRequest)" });
  });
});

describe('deleting and the proxy', () => {
  it('deletes a published part with deleteRecord; deleting it again is not an error', async () => {
    const bob = await signIn('bob');
    const part = published(await publishing().publishPart(partInput(bob, { text: 'Soon gone' }).input));
    expect(bsky.records(bob.did).some((r) => r.rkey === rkeyOf(part.id))).toBe(true);
    const context = { app: APP, accessToken: bob.accessToken, account: bob.account, options: {} };
    await publishing().deletePart!({ ...context, part });
    expect(bsky.records(bob.did).some((r) => r.rkey === rkeyOf(part.id))).toBe(false);
    await publishing().deletePart!({ ...context, part });
    expect(await publishing().findPart!(partInput(bob, { text: '' }, { saved: { rkey: rkeyOf(part.id) } }).input)).toBe('absent');
  });

  it('the proxy goes to each account’s own PDS, guarded as a host the account holder chose', async () => {
    const jules = await signIn('jules');
    expect(adapter.api!.originFor!(jules.account)).toEqual({ origin: SELF_HOSTED_PDS, callerChosenHost: true });
    const alice = await signIn('alice');
    expect(adapter.api!.originFor!(alice.account)).toEqual({ origin: PDS_ORIGIN, callerChosenHost: true });
  });
});

describe('through our HTTP API', () => {
  let t: TestServer;
  let http: BlueskyEmulator;
  const frank = user('frank');
  const gina = user('gina');

  beforeAll(async () => {
    http = await startBlueskyEmulator({ users: [frank, gina] });
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(blueskyUpstreams(http)) });
  });
  afterAll(async () => {
    await t?.close();
    await http?.close();
  });

  it('connects, posts a thread with a mention, publishes it, reads it back, calls the PDS through the proxy and deletes it there', async () => {
    const connected = await t.api('POST', '/v1/social-accounts/bluesky', { handle: frank.handle, appPassword: frank.appPasswords[0] });
    expect(connected.status, JSON.stringify(connected.body)).toBe(201);
    const accountId = connected.body.data.id as string;

    // Preflight holds the text to Bluesky's 300 graphemes…
    const tooLong = await t.api('POST', '/v1/posts', { content: 'é'.repeat(301), accounts: [accountId] });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body.details)).toContain(accountId);
    // …and hears of its 3,000 bytes from the adapter (150 family emoji: 150 graphemes, 3,750 bytes).
    const tooManyBytes = await t.api('POST', '/v1/posts', { content: '👨‍👩‍👧‍👦'.repeat(150), accounts: [accountId] });
    expect(tooManyBytes.status).toBe(400);
    expect(JSON.stringify(tooManyBytes.body.details)).toContain('3,000 bytes');

    const created = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'Hello from Switchboard 👋 cc @gina.bsky.social #launch' }, { content: 'And a reply below it.' }],
      accounts: [accountId],
      bluesky: { langs: ['en'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const postId = created.body.post.id as string;
    await publishDue(t.server.ctx);

    const read = await t.api('GET', `/v1/posts/${postId}`);
    expect(read.body.post.status).toBe('published');
    const target = read.body.post.socialAccounts[0];
    expect(target).toMatchObject({ status: 'published', network: 'bluesky', error: null });
    const [root, reply] = http.records(frank.did);
    expect(target.platformPostId).toBe(`at://${frank.did}/app.bsky.feed.post/${root.rkey}`);
    expect(target.platformPostUrl).toBe(`https://bsky.app/profile/${frank.did}/post/${root.rkey}`);
    expect(target.platformPostIds).toEqual([target.platformPostId, `at://${frank.did}/app.bsky.feed.post/${reply.rkey}`]);
    expect(root.value).toMatchObject({ text: 'Hello from Switchboard 👋 cc @gina.bsky.social #launch', langs: ['en'] });
    expect(root.value.facets.map((f: any) => f.features[0])).toEqual([
      { $type: 'app.bsky.richtext.facet#mention', did: gina.did },
      { $type: 'app.bsky.richtext.facet#tag', tag: 'launch' },
    ]);
    expect(reply.value.reply).toEqual({ root: { uri: target.platformPostId, cid: root.cid }, parent: { uri: target.platformPostId, cid: root.cid } });

    // The proxy reaches the account's own PDS.
    const proxied = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/xrpc/com.atproto.repo.getRecord?repo=${frank.did}&collection=app.bsky.feed.post&rkey=${root.rkey}`);
    expect(proxied.status).toBe(200);
    expect(proxied.body.value.text).toBe(root.value.text);

    const removed = await t.api('DELETE', `/v1/posts/${postId}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(http.records(frank.did)).toEqual([]);
  });
});
