// X publishing, the adapter against the X emulator through the upstream client's origin map: threads with media and
// alt text, the chunked upload streamed from the store, video processing across calls, every error class we encode,
// reconciliation after an unknown outcome, deletion, and uploads reused on a retry.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createXAdapter } from '../../src/providers/x/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { NetworkError, PublishError, type NetworkPublishing, type PartInput, type PartOutcome, type PublishContainer, type PublishedPart, type PublishMedia, type SavedProgress } from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { startXEmulator, X_ORIGINS, xFailures, type XEmulator } from '../emulators/x.ts';

const APP = { clientId: 'eEtDbGllbnRJZDoxOmNp', clientSecret: 'x-client-secret' };
const USERS = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kit', 'lou', 'max', 'ned', 'oli'].map((name, i) => ({
  id: String(1_600_000_000_000_000_000n + BigInt(i)),
  username: `${name}_x`,
  name,
}));
const user = (name: string) => USERS.find((u) => u.name === name)!;
const MiB = 1024 * 1024;

let x: XEmulator;
let publishing: NetworkPublishing;
let api: ReturnType<typeof createXAdapter>['api'];

beforeAll(async () => {
  x = await startXEmulator({ app: APP, users: USERS });
  const origins = Object.fromEntries(X_ORIGINS.map((o) => [o, x.origin]));
  const upstream = new UpstreamClient(origins, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  const adapter = createXAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v23.0' } });
  publishing = adapter.publishing!;
  api = adapter.api;
});
afterAll(async () => {
  await x?.close();
});
beforeEach(() => {
  x.publishing.processing = { polls: 1, checkAfterSecs: 1, fail: false };
});

/** What the engine does for one part, with what it was told kept for the test to look at. */
class Target {
  saved: SavedProgress = {};
  beforeCreateCalls: SavedProgress[] = [];
  readonly parts: PublishedPart[] = [];
  constructor(
    readonly name: string,
    readonly token = x.issueToken(user(name).id),
    readonly options: Record<string, unknown> = {},
  ) {}

  input(container: PublishContainer, index = this.parts.length): PartInput {
    return {
      app: { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: [], options: {} },
      accessToken: this.token,
      account: { networkUniqueId: user(this.name).id, username: user(this.name).username, accountType: 'personal', metadata: {} },
      options: this.options,
      container,
      root: this.parts[0] ?? null,
      previous: index > 0 ? this.parts[index - 1] : null,
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

  /** One call of publishPart for the next container. */
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

  /** Publishes the containers as a thread, calling again (without waiting) while X is processing. */
  async publishThread(containers: PublishContainer[]): Promise<PublishedPart[]> {
    for (const container of containers) {
      for (let calls = 0; ; calls++) {
        const outcome = await this.publishOnce(container);
        if (outcome.status === 'published') break;
        if (calls > 10) throw new Error('still processing');
      }
    }
    return this.parts;
  }

  posts() {
    return x.postsOf(user(this.name).id);
  }
}

const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });
const image = (alt?: string, bytes = 2048) => mediaFromBytes(Buffer.alloc(bytes, 7), { kind: 'image', contentType: 'image/png', width: 1200, height: 675, alt });
const video = (bytes = 3 * MiB) => mediaFromBytes(Buffer.alloc(bytes, 3), { kind: 'video', contentType: 'video/mp4', width: 1280, height: 720, durationSeconds: 12 });

/** Media whose every read of the store is recorded. */
function recordingReads(media: PublishMedia) {
  const reads: Array<{ start: number; end: number } | 'whole'> = [];
  const open = media.open;
  return {
    reads,
    media: { ...media, open: async (range?: { start: number; end: number }): Promise<Readable> => (reads.push(range ?? 'whole'), open(range)) },
  };
}

async function publishError(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

describe('publishing', () => {
  it('publishes a two-part thread with an image and its alt text, the second post replying to the first', async () => {
    const ada = new Target('ada');
    const [first, second] = await ada.publishThread([container('Our new bridge opens today', [image('The bridge at dawn, seen from the river')]), container('Tickets are free all week', [], 1)]);

    const posts = ada.posts();
    expect(posts.map((p) => p.text)).toEqual(['Our new bridge opens today', 'Tickets are free all week']);
    expect(posts[0].id).toBe(first.id);
    expect(posts[0].inReplyTo).toBeUndefined();
    expect(posts[1].inReplyTo).toBe(first.id);
    expect(posts[0].media.map((m) => ({ category: m.category, altText: m.altText }))).toEqual([{ category: 'tweet_image', altText: 'The bridge at dawn, seen from the river' }]);
    expect(first.url).toBe(`https://x.com/ada_x/status/${first.id}`);
    expect(second.url).toBe(`https://x.com/ada_x/status/${second.id}`);
    // Each create was announced with the moment findPart will search from.
    expect(ada.beforeCreateCalls).toHaveLength(2);
    expect(Date.parse(String(ada.beforeCreateCalls[0].createStartedAt))).toBeGreaterThan(Date.now() - 60_000);
  });

  it('sends the reply settings and the AI-generated media disclosure to every post of the thread', async () => {
    const ben = new Target('ben', undefined, { replySettings: 'following', madeWithAi: true });
    await ben.publishThread([container('A drawing I made with a model', [image()]), container('How I made it', [], 1)]);
    expect(ben.posts().map((p) => [p.replySettings, p.madeWithAi])).toEqual([
      ['following', true],
      ['following', true],
    ]);
  });

  it("refuses options X does not have, in the option schema's own words", () => {
    expect(publishing.optionsSchema!.safeParse({ replySettings: 'everyone' }).success).toBe(false);
    expect(publishing.optionsSchema!.safeParse({ reply_settings: 'following' }).success).toBe(false);
    expect(publishing.optionsSchema!.safeParse({ replySettings: 'mentionedUsers', madeWithAi: false }).success).toBe(true);
  });

  it('uploads a large file in 4 MiB segments read one at a time from the store, never whole', async () => {
    x.publishing.processing = { polls: 0, checkAfterSecs: 0, fail: false };
    const cleo = new Target('cleo');
    const { media, reads } = recordingReads(video(9 * MiB + 123));
    await cleo.publishThread([container('The whole launch, 12 seconds', [media])]);

    expect(reads).toEqual([
      { start: 0, end: 4 * MiB - 1 },
      { start: 4 * MiB, end: 8 * MiB - 1 },
      { start: 8 * MiB, end: 9 * MiB + 122 },
    ]);
    const [upload] = cleo.posts()[0].media;
    expect(upload.category).toBe('tweet_video');
    expect([...upload.segments.entries()]).toEqual([
      [0, 4 * MiB],
      [1, 4 * MiB],
      [2, MiB + 123],
    ]);
  });

  it('hands a video that X is still processing back to the engine, and posts it once processing succeeds', async () => {
    x.publishing.processing = { polls: 2, checkAfterSecs: 30, fail: false };
    const dora = new Target('dora');
    const clip = video();
    const initializedBefore = x.publishing.initialized;

    const first = await dora.publishOnce(container('Watch the test flight', [clip]));
    expect(first).toMatchObject({ status: 'processing', checkAfterSeconds: 30 });
    const second = await dora.publishOnce(container('Watch the test flight', [clip]));
    expect(second).toMatchObject({ status: 'processing', checkAfterSeconds: 30 });
    expect(dora.posts()).toHaveLength(0);
    expect(dora.beforeCreateCalls).toHaveLength(0);

    const third = await dora.publishOnce(container('Watch the test flight', [clip]));
    expect(third.status).toBe('published');
    // One upload, polled across the calls, not uploaded again.
    expect(x.publishing.initialized).toBe(initializedBefore + 1);
    const [post] = dora.posts();
    expect(post.media[0].processing?.state).toBe('succeeded');
  });

  it('waits inside the call when X asks to check again in a second', async () => {
    x.publishing.processing = { polls: 1, checkAfterSecs: 1, fail: false };
    const eli = new Target('eli');
    const outcome = await eli.publishOnce(container('A short loop', [mediaFromBytes(Buffer.alloc(4096, 1), { kind: 'gif', contentType: 'image/gif', width: 480, height: 270, alt: 'A cat chasing a laser dot' })]));
    expect(outcome.status).toBe('published');
    expect(eli.posts()[0].media[0]).toMatchObject({ category: 'tweet_gif', altText: 'A cat chasing a laser dot' });
  });

  it('reuses the media already uploaded when a retry follows a failure mid-upload', async () => {
    const fay = new Target('fay');
    const photos = [image('first photo'), image('second photo'), image('third photo')];
    const initializedBefore = x.publishing.initialized;
    // The first two photos go up; the third one's segment fails.
    x.failAfter('append', 2, xFailures.serverError());
    const failure = await publishError(fay.publishOnce(container('Three photos from the trip', photos)));
    expect(failure.category).toBe('platform_error');
    expect(fay.beforeCreateCalls).toHaveLength(0);
    const uploadedFirst = Object.values(fay.saved.media as Record<string, { xMediaId: string }>).map((m) => m.xMediaId);
    expect(uploadedFirst).toHaveLength(2);

    const outcome = await fay.publishOnce(container('Three photos from the trip', photos));
    expect(outcome.status).toBe('published');
    // The first attempt began three uploads and finished two; the retry begins only the unfinished third again.
    expect(x.publishing.initialized).toBe(initializedBefore + 4);
    const [post] = fay.posts();
    expect(post.mediaIds.slice(0, 2)).toEqual(uploadedFirst);
    expect(post.media.map((m) => m.altText)).toEqual(['first photo', 'second photo', 'third photo']);
  });

  it('uploads again media whose earlier upload X has forgotten', async () => {
    const gus = new Target('gus', x.issueToken(user('gus').id));
    const photo = image('a photo');
    gus.saved = { media: { [photo.id]: { xMediaId: '1146654567674912769', expiresAt: Date.now() - 1000, state: 'ready', altTextSet: true } } };
    expect((await gus.publishOnce(container('Posted a day late', [photo]))).status).toBe('published');
    const [post] = gus.posts().filter((p) => p.text === 'Posted a day late');
    expect(post.mediaIds).not.toContain('1146654567674912769');
    expect(post.media[0].altText).toBe('a photo');
  });

  it('tells preflight that alt text longer than X takes will not go through', () => {
    const account = { networkUniqueId: user('ada').id, username: 'ada_x', accountType: 'personal' as const, metadata: {} };
    expect(publishing.check!({ containers: [container('fine', [image('a'.repeat(1000))])], options: {}, account })).toEqual([]);
    const problems = publishing.check!({ containers: [container('too long', [image('a'.repeat(1001))])], options: {}, account });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('1,000 characters');
  });
});

describe('errors', () => {
  it('classifies a dead token as auth_expired', async () => {
    const gus = new Target('gus');
    x.revokeUser(user('gus').id);
    const err = await publishError(gus.publishOnce(container('Hello')));
    expect(err.category).toBe('auth_expired');
  });

  it('classifies a missing scope as permission_missing (no media.write for an upload, no tweet.write for a post)', async () => {
    const noMedia = new Target('hal', x.issueToken(user('hal').id, ['tweet.read', 'tweet.write', 'users.read']));
    const upload = await publishError(noMedia.publishOnce(container('With a photo', [image()])));
    expect(upload.category).toBe('permission_missing');
    expect(upload.message).toContain('media.write');

    const readOnly = new Target('hal', x.issueToken(user('hal').id, ['tweet.read', 'users.read']));
    const post = await publishError(readOnly.publishOnce(container('Just text')));
    expect(post.category).toBe('permission_missing');
  });

  it('classifies a second post with the same text as duplicate, in X’s words', async () => {
    const ivy = new Target('ivy');
    await ivy.publishOnce(container('Same words twice'));
    const err = await publishError(new Target('ivy', ivy.token).publishOnce(container('Same words twice')));
    expect(err.category).toBe('duplicate');
    expect(err.message).toBe('You are not allowed to create a Tweet with duplicate content.');
  });

  it('classifies text over 280 weighted characters as user_content', async () => {
    // 141 CJK characters weigh 282.
    const err = await publishError(new Target('jon').publishOnce(container('字'.repeat(141))));
    expect(err.category).toBe('user_content');
    expect(err.message).toContain('too long');
  });

  it("retries a used-up per-user window at its x-rate-limit-reset", async () => {
    x.publishing.createWindows.perUserLimit = 2;
    try {
      const kit = new Target('kit');
      await kit.publishOnce(container('one'));
      await kit.publishOnce(container('two'));
      const err = await publishError(kit.publishOnce(container('three')));
      expect(err.category).toBe('rate_limited');
      expect(err.retryAfterSeconds).toBeGreaterThan(800);
      expect(err.retryAfterSeconds).toBeLessThanOrEqual(901);
      expect(err.message).toContain('15-minute');
    } finally {
      x.publishing.createWindows.perUserLimit = 100;
    }
  });

  it("retries a used-up per-app 24-hour window at that window's reset, not the 15-minute one", async () => {
    const appWindow = x.publishing.createWindows.perApp;
    const limit = appWindow.limit;
    appWindow.limit = 0;
    try {
      const err = await publishError(new Target('lou').publishOnce(container('anything')));
      expect(err.category).toBe('rate_limited');
      expect(err.retryAfterSeconds).toBeGreaterThan(23 * 3600);
      expect(err.message).toContain('per-app 24-hour');
    } finally {
      appWindow.limit = limit;
    }
  });

  it("retries a used-up per-user 24-hour window at that window's reset", async () => {
    const now = Math.floor(Date.now() / 1000);
    x.failNext('create', {
      ...xFailures.rateLimited(600),
      headers: { 'x-rate-limit-remaining': '90', 'x-rate-limit-reset': String(now + 600), 'x-user-limit-24hour-limit': '2400', 'x-user-limit-24hour-remaining': '0', 'x-user-limit-24hour-reset': String(now + 20_000) },
    });
    const err = await publishError(new Target('max').publishOnce(container('anything')));
    expect(err.category).toBe('rate_limited');
    expect(err.retryAfterSeconds).toBeGreaterThan(19_000);
    expect(err.message).toContain('per-user 24-hour');
  });

  it.each([
    ['the usage cap', xFailures.usageCapped(), 'quota_exhausted', 'Usage cap exceeded: Monthly product cap'],
    ['an app not enrolled in a Project', xFailures.clientNotEnrolled(), 'app_not_approved', 'attached to a Project'],
    ['another refusal of permission', xFailures.forbidden(), 'permission_missing', 'You are not permitted to perform this action.'],
    ['an outage', xFailures.serverError(), 'platform_error', 'Service Unavailable'],
  ])('classifies %s', async (_what, answer, category, words) => {
    x.failNext('create', answer);
    const err = await publishError(new Target('ned').publishOnce(container(`text for ${category}`)));
    expect(err.category).toBe(category);
    expect(err.message).toContain(words);
  });

  it('classifies a video X could not process as user_content, with its reason', async () => {
    x.publishing.processing = { polls: 1, checkAfterSecs: 1, fail: true };
    const err = await publishError(new Target('ned').publishOnce(container('a broken clip', [video()])));
    expect(err.category).toBe('user_content');
    expect(err.message).toContain('Unsupported video format');
  });
});

describe('finding a part after an unknown outcome', () => {
  it('finds the post when X made it but the answer was lost', async () => {
    const oli = new Target('oli');
    x.publishing.loseNextCreateAnswer = true;
    const lost = await oli.publishOnce(container('Lost in transit')).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(NetworkError);
    const found = await publishing.findPart!(oli.input(container('Lost in transit')));
    const [post] = oli.posts();
    expect(found).toEqual({ id: post.id, url: `https://x.com/oli_x/status/${post.id}` });
  });

  it('finds a reply with links and a photo, which X shows with t.co links, by its text and the post it replies to', async () => {
    const ada = new Target('ada');
    await ada.publishThread([container('Thread about links')]);
    const text = 'Read more at example.com/a & https://example.org/b?c=1 <today>';
    x.publishing.loseNextCreateAnswer = true;
    await expect(ada.publishOnce(container(text, [image()], 1))).rejects.toBeInstanceOf(NetworkError);
    const found = await publishing.findPart!(ada.input(container(text, [image()], 1)));
    const reply = ada.posts().find((p) => p.inReplyTo === ada.parts[0].id)!;
    expect(found).toMatchObject({ id: reply.id });
  });

  it('answers absent when the timeline answers and the post is not there', async () => {
    const ben = new Target('ben');
    x.failNext('create', xFailures.serverError());
    await expect(ben.publishOnce(container('Never made it'))).rejects.toMatchObject({ category: 'platform_error' });
    expect(ben.beforeCreateCalls).toHaveLength(1);
    expect(await publishing.findPart!(ben.input(container('Never made it')))).toBe('absent');
  });

  it('does not take a post with the same text replying elsewhere for the part', async () => {
    const cleo = new Target('cleo');
    await cleo.publishThread([container('Thread one'), container('Same reply text', [], 1)]);
    const other = new Target('cleo', cleo.token);
    await other.publishThread([container('Thread two')]);
    other.saved = { createStartedAt: new Date().toISOString() };
    expect(await publishing.findPart!(other.input(container('Same reply text', [], 1)))).toBe('absent');
  });

  it('throws a retryable platform_error when the timeline cannot be read now, so the engine asks again later', async () => {
    const dora = new Target('dora');
    dora.saved = { createStartedAt: new Date().toISOString() };
    x.failNext('timeline', xFailures.serverError());
    await expect(publishing.findPart!(dora.input(container('Whatever')))).rejects.toMatchObject({ category: 'platform_error' });
  });
});

describe('deleting', () => {
  it('deletes a published post, and a post already gone counts as deleted', async () => {
    const eli = new Target('eli');
    const [part] = await eli.publishThread([container('Delete me later')]);
    const ctx = { app: { clientId: APP.clientId, clientSecret: undefined, scopes: [], options: {} }, accessToken: eli.token, account: { networkUniqueId: user('eli').id, username: 'eli_x', accountType: 'personal' as const, metadata: {} }, options: {} };
    await publishing.deletePart!({ ...ctx, part });
    expect(eli.posts().find((p) => p.id === part.id)).toBeUndefined();
    await expect(publishing.deletePart!({ ...ctx, part })).resolves.toBeUndefined();
  });

  it("refuses to delete someone else's post as permission_missing", async () => {
    const fay = new Target('fay');
    const [part] = await fay.publishThread([container('Mine, not yours')]);
    const other = { app: { clientId: APP.clientId, clientSecret: undefined, scopes: [], options: {} }, accessToken: x.issueToken(user('gus').id), account: { networkUniqueId: user('gus').id, username: 'gus_x', accountType: 'personal' as const, metadata: {} }, options: {} };
    await expect(publishing.deletePart!({ ...other, part })).rejects.toMatchObject({ category: 'permission_missing' });
  });
});

describe('calling X directly', () => {
  it('declares api.x.com as the only origin the proxy reaches, with the bearer token', () => {
    expect(api).toEqual({ origin: 'https://api.x.com' });
  });
});
