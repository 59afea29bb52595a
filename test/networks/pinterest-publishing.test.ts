// Pinterest publishing, the adapter against the Pinterest emulator through the upstream client's origin map: image
// Pins, carousels and video Pins (the S3 form upload streamed from the store, processing across calls, the cover),
// the board chosen or defaulted, preflight's questions to Pinterest, every error class we encode, reconciliation
// on the board after an unknown outcome, deletion, the boards as publishing options and the account's metrics; then
// through our API: POST /v1/posts and Ocoya's POST /post published by the worker, preflight refusals, the metrics and
// options endpoints, the proxy and deletion at Pinterest.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPinterestAdapter } from '../../src/providers/pinterest/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { checkContainers } from '../../src/publishing/preflight.ts';
import {
  NetworkError,
  PublishError,
  type NetworkAdapter,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishContainer,
  type PublishedPart,
  type PublishMedia,
  type SavedProgress,
} from '../../src/providers/types.ts';
import { makeJpeg, makeMp4, makePng } from '../helpers/media-fixtures.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { PINTEREST_ORIGINS, pinterestFailures, startPinterestEmulator, type PinterestEmulator, type PinterestUser } from '../emulators/pinterest.ts';

const APP = { clientId: '1500002', clientSecret: 'pinterest-app-secret' };
const MiB = 1024 * 1024;
let boardSeq = 900_000_000_000;
const board = (name: string, sections: string[] = []) => ({
  id: String(boardSeq++),
  name,
  sections: sections.map((s) => ({ id: String(boardSeq++), name: s })),
});
const NAMES = ['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jon', 'kit', 'lou'];
const USERS: PinterestUser[] = NAMES.map((name, i) => ({
  id: String(549_755_900_000 + i),
  username: `${name}_pins`,
  accountType: ['cleo', 'kit'].includes(name) ? 'BUSINESS' : 'PINNER',
  boards:
    name === 'ben' || name === 'kit'
      ? [board('Only board')]
      : name === 'lou'
        ? []
        : name === 'jon'
          ? Array.from({ length: 260 }, (_, j) => board(`Board ${j + 1}`, j < 2 ? ['Drafts'] : []))
          : [board('Recipes', ['Soups', 'Salads']), board('Travel')],
  followers: 1200 + i,
  following: 80 + i,
  monthlyViews: 45_000 + i,
}));
const user = (name: string) => USERS.find((u) => u.username === `${name}_pins`)!;
const boardOf = (name: string, i = 0) => user(name).boards![i];

let pinterest: PinterestEmulator;
let adapter: NetworkAdapter;
let publishing: NetworkPublishing;

beforeAll(async () => {
  pinterest = await startPinterestEmulator({ app: APP, users: USERS });
  const origins = Object.fromEntries(PINTEREST_ORIGINS.map((o) => [o, pinterest.origin]));
  const upstream = new UpstreamClient(origins, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createPinterestAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v23.0' } });
  publishing = adapter.publishing!;
});
afterAll(async () => {
  await pinterest?.close();
});
beforeEach(() => {
  pinterest.publishing.processing = { polls: 1, fail: false };
  pinterest.publishing.access = 'standard';
});

const accountOf = (name: string): PublishAccount => ({ networkUniqueId: user(name).id, username: user(name).username, accountType: 'personal', metadata: {} });
const appCredentials = { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: [], options: {} };

/** What the engine does for one part, with what it was told kept for the test to look at. */
class Target {
  saved: SavedProgress = {};
  beforeCreateCalls: SavedProgress[] = [];
  part: PublishedPart | undefined;
  /** The organization's Pinterest app, with its settings. */
  app = appCredentials;
  constructor(
    readonly name: string,
    readonly options: Record<string, unknown> = {},
    readonly token = pinterest.issueToken(user(name).id),
  ) {}

  input(container: PublishContainer): PartInput {
    return {
      app: this.app,
      accessToken: this.token,
      account: accountOf(this.name),
      options: publishing.optionsSchema!.parse(this.options),
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
    if (outcome.status === 'published') this.part = outcome.part;
    else this.saved = structuredClone(outcome.saved);
    return outcome;
  }

  /** Calls again (without waiting) while Pinterest is processing. */
  async publish(container: PublishContainer): Promise<PublishedPart> {
    for (let calls = 0; calls < 10; calls++) {
      const outcome = await this.publishOnce(container);
      if (outcome.status === 'published') return outcome.part;
    }
    throw new Error('still processing');
  }

  pins() {
    return pinterest.pinsOf(user(this.name).id);
  }
}

const container = (text: string, media: PublishMedia[] = []): PublishContainer => ({ index: 0, text, media });
let fileSeq = 0;
/** An image Pinterest can fetch (served by the emulator, standing in for our PUBLIC_URL). */
function image(opts: { alt?: string; width?: number; height?: number; jpeg?: boolean } = {}) {
  const width = opts.width ?? 100;
  const height = opts.height ?? 150;
  const bytes = opts.jpeg ? makeJpeg(width, height) : makePng(width, height);
  const contentType = opts.jpeg ? 'image/jpeg' : 'image/png';
  const url = pinterest.host(`image-${++fileSeq}`, bytes, contentType);
  return mediaFromBytes(bytes, { kind: 'image', contentType, width, height, alt: opts.alt, url });
}
const video = (bytes = 3 * MiB + 17) => mediaFromBytes(Buffer.alloc(bytes, 5), { kind: 'video', contentType: 'video/mp4', width: 1080, height: 1920, durationSeconds: 12 });

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

describe('publishing', () => {
  it('publishes an image Pin on the chosen board and section, with its title, link and alt text, fetched from our media URL', async () => {
    const recipes = boardOf('ada');
    const ada = new Target('ada', { board_id: recipes.id, board_section_id: recipes.sections![0].id, title: 'Tomato soup', link: 'https://example.com/soup', dominant_color: '#aa3311' });
    const photo = image({ alt: 'A bowl of tomato soup' });
    const part = await ada.publish(container('Ten-minute tomato soup #recipe', [photo]));

    const [pin] = ada.pins();
    expect(pin).toMatchObject({
      id: part.id,
      boardId: recipes.id,
      boardSectionId: recipes.sections![0].id,
      title: 'Tomato soup',
      description: 'Ten-minute tomato soup #recipe',
      link: 'https://example.com/soup',
      altText: 'A bowl of tomato soup',
      dominantColor: '#aa3311',
      mediaSource: { source_type: 'image_url', url: photo.url },
    });
    expect(pin.fetched).toEqual([{ url: photo.url, contentType: 'image/png', size: photo.size }]);
    expect(part).toEqual({ id: pin.id, url: `https://www.pinterest.com/pin/${pin.id}/`, data: { boardId: recipes.id } });
    // The create was announced with what findPart looks for.
    expect(ada.beforeCreateCalls).toHaveLength(1);
    expect(ada.beforeCreateCalls[0].pending).toMatchObject({ boardId: recipes.id, description: 'Ten-minute tomato soup #recipe', title: 'Tomato soup' });
  });

  it('publishes 2–5 images as a carousel, each fetched by Pinterest, and the alt_text option over the images’ own', async () => {
    const ben = new Target('ben', { alt_text: 'Three views of the cabin' });
    const photos = [image({ alt: 'front' }), image({ jpeg: true }), image()];
    await ben.publish(container('The cabin, from every side', photos));
    const [pin] = ben.pins();
    expect(pin.mediaSource).toEqual({ source_type: 'multiple_image_urls', items: photos.map((p) => ({ url: p.url })) });
    expect(pin.fetched.map((f) => f.contentType)).toEqual(['image/png', 'image/jpeg', 'image/png']);
    expect(pin.altText).toBe('Three views of the cabin');
  });

  it('with no board named, saves the Pin to the account’s only board', async () => {
    const kit = new Target('kit');
    await kit.publish(container('No board named', [image()]));
    expect(kit.pins()[0].boardId).toBe(boardOf('kit').id);
  });

  it('with no board named and several boards, fails in plain words naming them, before anything is created', async () => {
    const cleo = new Target('cleo');
    const err = await publishError(cleo.publishOnce(container('Which board?', [image()])));
    expect(err.category).toBe('user_content');
    expect(err.message).toContain(`Recipes (${boardOf('cleo').id})`);
    expect(err.message).toContain(`Travel (${boardOf('cleo', 1).id})`);
    expect(cleo.beforeCreateCalls).toHaveLength(0);
    expect(cleo.pins()).toHaveLength(0);
  });

  it('uploads a video through the S3 form (its fields as handed out, the file last, streamed), waits out processing across calls, and uses the image beside it as the cover', async () => {
    pinterest.publishing.processing = { polls: 6, fail: false };
    const dora = new Target('dora', { board_id: boardOf('dora', 1).id });
    const { media: clip, reads } = recordingReads(video());
    const cover = image();
    const first = await dora.publishOnce(container('Our trip in twelve seconds', [clip, cover]));
    expect(first).toMatchObject({ status: 'processing', checkAfterSeconds: 10 });
    expect(dora.pins()).toHaveLength(0);
    expect(dora.beforeCreateCalls).toHaveLength(0);

    const part = await dora.publish(container('Our trip in twelve seconds', [clip, cover]));
    // One upload, read once from the store as a stream, polled across the calls.
    expect(reads).toEqual(['whole']);
    const uploads = [...pinterest.publishing.media.values()].filter((m) => m.userId === user('dora').id);
    expect(uploads).toHaveLength(1);
    const [upload] = uploads;
    expect(upload.uploaded).toMatchObject({ size: clip.size, contentType: 'video/mp4' });
    expect(upload.uploaded!.fieldOrder).toEqual([...Object.keys(upload.parameters), 'file']);
    const [pin] = dora.pins();
    expect(pin.id).toBe(part.id);
    expect(pin.mediaSource).toEqual({ source_type: 'video_id', media_id: upload.id, cover_image_url: cover.url });
  });

  it('takes the cover of a video Pin as a key frame, or by URL, from the options', async () => {
    pinterest.publishing.processing = { polls: 0, fail: false };
    const eli = new Target('eli', { board_id: boardOf('eli').id, cover_image_key_frame_time: 3 });
    await eli.publish(container('Key frame cover', [video()]));
    expect(eli.pins()[0].mediaSource).toMatchObject({ source_type: 'video_id', cover_image_key_frame_time: 3 });

    const coverUrl = image().url;
    const byUrl = new Target('eli', { board_id: boardOf('eli').id, cover_image_url: coverUrl });
    await byUrl.publish(container('URL cover', [video()]));
    expect(byUrl.pins()[1].mediaSource).toMatchObject({ source_type: 'video_id', cover_image_url: coverUrl });
  });
});

describe('images as bytes (an installation Pinterest cannot reach)', () => {
  const bytesApp = { ...appCredentials, options: { images: 'bytes' } };

  it('is a setting of the organization’s Pinterest app', () => {
    expect(adapter.optionsSchema!.safeParse({ images: 'bytes' }).success).toBe(true);
    expect(adapter.optionsSchema!.safeParse({ images: 'url' }).success).toBe(true);
    expect(adapter.optionsSchema!.safeParse({ images: 'inline' }).success).toBe(false);
    expect(adapter.optionsSchema!.safeParse({ sandbox: true }).success).toBe(false);
  });

  it('sends one image, a carousel and a video’s cover as base64 bytes instead of URLs', async () => {
    pinterest.publishing.processing = { polls: 0, fail: false };
    const fay = new Target('fay', { board_id: boardOf('fay').id });
    fay.app = bytesApp;
    const photo = image({ jpeg: true });
    await fay.publish(container('One image as bytes', [photo]));
    const bytesOf = async (m: PublishMedia) => Buffer.concat(await (await m.open()).toArray()).toString('base64');
    expect(fay.pins().at(-1)!.mediaSource).toEqual({ source_type: 'image_base64', content_type: 'image/jpeg', data: await bytesOf(photo) });

    const photos = [image(), image()];
    await fay.publish(container('Two images as bytes', photos));
    expect(fay.pins().at(-1)!.mediaSource).toEqual({
      source_type: 'multiple_image_base64',
      items: [
        { content_type: 'image/png', data: await bytesOf(photos[0]) },
        { content_type: 'image/png', data: await bytesOf(photos[1]) },
      ],
    });
    // Pinterest fetched nothing from us.
    expect(fay.pins().slice(-2).flatMap((p) => p.fetched.map((f) => f.url))).toEqual(['base64', 'base64', 'base64']);

    const cover = image();
    await fay.publish(container('A video with its cover as bytes', [video(), cover]));
    expect(fay.pins().at(-1)!.mediaSource).toMatchObject({ source_type: 'video_id', cover_image_content_type: 'image/png', cover_image_data: await bytesOf(cover) });
  });

  it('refuses WebP, which Pinterest does not take as bytes, at preflight and when publishing', async () => {
    const webp = mediaFromBytes(Buffer.alloc(64, 1), { kind: 'image', contentType: 'image/webp', filename: 'photo.webp', width: 100, height: 150 });
    const problems = await publishing.checkAtNetwork!({ app: bytesApp, accessToken: pinterest.issueToken(user('fay').id), account: accountOf('fay'), options: { board_id: boardOf('fay').id }, containers: [container('webp', [webp])] });
    expect(problems).toEqual(['photo.webp is image/webp; this installation sends Pinterest images as bytes, which Pinterest takes as JPEG or PNG only.']);
    const fay = new Target('fay', { board_id: boardOf('fay').id });
    fay.app = bytesApp;
    const err = await publishError(fay.publishOnce(container('webp', [webp])));
    expect(err.category).toBe('user_content');
    expect(fay.beforeCreateCalls).toHaveLength(0);
  });
});

describe('preflight', () => {
  const rules = () => publishing.rules;
  it('refuses what a Pin cannot be: no media, a GIF, six images, text over 800 characters, a second part', () => {
    const gif = mediaFromBytes(Buffer.alloc(10), { kind: 'gif', contentType: 'image/gif', width: 10, height: 10 });
    expect(checkContainers(rules(), [container('text only')], 'Pinterest')).toEqual(['Pinterest needs an image or a video in the post']);
    expect(checkContainers(rules(), [container('a gif', [gif])], 'Pinterest').join()).toContain('does not take GIFs');
    expect(checkContainers(rules(), [container('six', Array.from({ length: 6 }, () => image()))], 'Pinterest').join()).toContain('at most 5');
    // 800 characters counted as code points: an emoji is one.
    expect(checkContainers(rules(), [container('😀'.repeat(800), [image()])], 'Pinterest')).toEqual([]);
    expect(checkContainers(rules(), [container('😀'.repeat(801), [image()])], 'Pinterest').join()).toContain('801 characters long; Pinterest takes at most 800');
    expect(checkContainers(rules(), [container('one', [image()]), { index: 1, text: 'two', media: [] }], 'Pinterest').join()).toContain('no threads or comments');
  });

  it('refuses a video shorter than 4 s, longer than 5 min or wider than 1.91:1', () => {
    const clip = (facts: { durationSeconds: number; width: number; height: number }) => mediaFromBytes(Buffer.alloc(10), { kind: 'video', contentType: 'video/mp4', ...facts });
    const problems = (m: PublishMedia) => checkContainers(rules(), [container('v', [m, image()])], 'Pinterest');
    expect(problems(clip({ durationSeconds: 12, width: 1080, height: 1920 }))).toEqual([]);
    expect(problems(clip({ durationSeconds: 3, width: 1080, height: 1920 })).join()).toContain('at least 4 s');
    expect(problems(clip({ durationSeconds: 301, width: 1080, height: 1920 })).join()).toContain('at most 300 s');
    expect(problems(clip({ durationSeconds: 12, width: 2000, height: 1000 })).join()).toContain('aspect ratio');
  });

  it('asks for a cover for a video Pin, one at most, and carousel images of one size', () => {
    const check = (media: PublishMedia[], options: Record<string, unknown> = {}) => publishing.check!({ containers: [container('x', media)], options, account: accountOf('ada') });
    expect(check([video()]).join()).toContain('needs a cover');
    expect(check([video()], { cover_image_key_frame_time: 0 })).toEqual([]);
    expect(check([video(), image()])).toEqual([]);
    expect(check([video(), image()], { cover_image_url: 'https://example.com/c.jpg' }).join()).toContain('one cover');
    expect(check([video(), image(), image()]).join()).toContain('at most one image');
    expect(check([image()], { cover_image_key_frame_time: 2 }).join()).toContain('for video Pins');
    expect(check([image({ width: 100, height: 150 }), image({ width: 200, height: 300 })]).join()).toContain('same dimensions; these are 100×150, 200×300');
    expect(check([image({ alt: 'a'.repeat(501) })]).join()).toContain('at most 500');
    expect(check([image()], { board_section_id: '123' }).join()).toContain('needs pinterest.board_id');
  });

  it("validates the options in the schema's words: digits for ids, 100 characters of title, nothing unknown", () => {
    const schema = publishing.optionsSchema!;
    expect(schema.safeParse({ board_id: '549755885175', title: 'x'.repeat(100), link: 'https://example.com' }).success).toBe(true);
    expect(schema.safeParse({ board_id: 'my-board' }).success).toBe(false);
    expect(schema.safeParse({ title: 'x'.repeat(101) }).success).toBe(false);
    expect(schema.safeParse({ link: 'javascript:alert(1)' }).success).toBe(false);
    expect(schema.safeParse({ boardId: '1' }).success).toBe(false);
  });

  it('asks Pinterest whether the board and section are the account’s, and which board to use when none is named', async () => {
    const ask = (name: string, options: Record<string, unknown>) =>
      publishing.checkAtNetwork!({ app: appCredentials, accessToken: pinterest.issueToken(user(name).id), account: accountOf(name), options, containers: [container('x', [image()])] });
    const recipes = boardOf('fay');
    expect(await ask('fay', { board_id: recipes.id, board_section_id: recipes.sections![1].id })).toEqual([]);
    expect((await ask('fay', { board_id: '12345' })).join()).toContain("Pinterest has no board 12345 among this account's boards");
    // Another user's board: Pinterest's 403, the same answer for the user.
    expect((await ask('fay', { board_id: boardOf('gus').id })).join()).toContain(`no board ${boardOf('gus').id}`);
    expect((await ask('fay', { board_id: recipes.id, board_section_id: '777' })).join()).toContain(`its sections are: Soups (${recipes.sections![0].id}), Salads (${recipes.sections![1].id})`);
    expect((await ask('fay', {})).join()).toContain(`set pinterest.board_id to one of this account's boards: Recipes (${recipes.id}), Travel`);
    expect(await ask('ben', {})).toEqual([]);
    expect((await ask('lou', {})).join()).toContain('has no board');
  });
});

describe('errors', () => {
  const photoPin = (name: string) => new Target(name, { board_id: boardOf(name).id });

  it.each([
    ['an app on Trial access', pinterestFailures.trialAccess(), 'app_not_approved', 'Standard access', '29'],
    ['a feature the access tier lacks (401 code 3, not a dead token)', pinterestFailures.restrictedFeature(), 'app_not_approved', 'restricted feature', '3'],
    ['a dead token', pinterestFailures.authenticationFailed(), 'auth_expired', 'Authentication failed.', '2'],
    ['a resource the account may not use', pinterestFailures.notPermitted(), 'permission_missing', 'You are not permitted to access that resource.', '29'],
    ['a rate limit', pinterestFailures.rateLimited(120), 'rate_limited', 'exceeded your rate limit', '8'],
    ['an outage', pinterestFailures.serverError(), 'platform_error', 'temporarily unavailable', '0'],
    ['a board busy elsewhere', pinterestFailures.boardBusy(), 'platform_error', 'exclusive access', '409'],
    ['invalid parameters', pinterestFailures.invalidParameters(), 'user_content', 'Invalid parameters.', '1'],
    ['the spam block', pinterestFailures.spamBlock(), 'platform_rejected', 'combat spam', '1'],
  ])('classifies %s', async (_what, answer, category, words, code) => {
    pinterest.failNext('create', answer);
    const err = await publishError(photoPin('hal').publishOnce(container(`text for ${category}`, [image()])));
    expect(err.category).toBe(category);
    expect(err.message).toContain(words);
    expect(err.platformCode).toBe(code);
    if (category === 'rate_limited') expect(err.retryAfterSeconds).toBe(120);
  });

  it('classifies the real refusals: Trial access, an unknown board, someone else’s board, an unfetchable image, a revoked token, a missing scope', async () => {
    pinterest.publishing.access = 'trial';
    expect((await publishError(photoPin('ivy').publishOnce(container('trial', [image()])))).category).toBe('app_not_approved');
    pinterest.publishing.access = 'standard';

    const unknown = await publishError(new Target('ivy', { board_id: '424242' }).publishOnce(container('nowhere', [image()])));
    expect(unknown).toMatchObject({ category: 'user_content', message: 'Board not found.', platformCode: '40' });

    const foreign = await publishError(new Target('ivy', { board_id: boardOf('gus').id }).publishOnce(container('not mine', [image()])));
    expect(foreign).toMatchObject({ category: 'permission_missing', platformCode: '29' });

    const gone = mediaFromBytes(makePng(10, 10), { kind: 'image', contentType: 'image/png', width: 10, height: 10, url: `${pinterest.origin}/_fixtures/never-served` });
    const unreachable = await publishError(photoPin('ivy').publishOnce(container('lost image', [gone])));
    expect(unreachable).toMatchObject({ category: 'media_unreachable', message: 'Sorry we could not fetch the image.' });

    const noScope = new Target('ivy', { board_id: boardOf('ivy').id }, pinterest.issueToken(user('ivy').id, ['user_accounts:read', 'boards:read', 'pins:read']));
    expect((await publishError(noScope.publishOnce(container('read only', [image()])))).category).toBe('permission_missing');

    const revoked = photoPin('ivy');
    pinterest.revokeUser(user('ivy').id);
    expect((await publishError(revoked.publishOnce(container('revoked', [image()])))).category).toBe('auth_expired');
  });

  it('classifies a video Pinterest could not process as user_content, and forgets that upload so an edited post uploads anew', async () => {
    pinterest.publishing.processing = { polls: 0, fail: true };
    const jon = new Target('jon', { board_id: boardOf('jon').id, cover_image_key_frame_time: 1 });
    const clip = video();
    const err = await publishError(jon.publishOnce(container('broken clip', [clip])));
    expect(err).toMatchObject({ category: 'user_content', platformCode: 'media_failed' });
    expect(err.message).toContain('could not process the video');
    expect(jon.saved.video).toBeUndefined();
  });

  it('registers a new upload when the S3 form was refused (an expired policy), and publishes with it', async () => {
    pinterest.publishing.processing = { polls: 0, fail: false };
    const jon = new Target('jon', { board_id: boardOf('jon').id, cover_image_key_frame_time: 1 });
    const clip = video();
    pinterest.failNext('upload', { status: 403, body: '<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>', headers: { 'content-type': 'application/xml' } });
    const err = await publishError(jon.publishOnce(container('retried clip', [clip])));
    expect(err).toMatchObject({ category: 'platform_error', platformCode: 'AccessDenied' });
    expect(err.message).toContain('Policy expired');
    const before = pinterest.publishing.media.size;
    await jon.publish(container('retried clip', [clip]));
    expect(pinterest.publishing.media.size).toBe(before + 1);
    expect(jon.pins().at(-1)!.description).toBe('retried clip');
  });
});

describe('finding a Pin after an unknown outcome', () => {
  it('finds the Pin on the board when Pinterest made it but the answer was lost', async () => {
    const gus = new Target('gus', { board_id: boardOf('gus').id, title: 'Lost answer' });
    pinterest.publishing.loseNextCreateAnswer = true;
    const lost = await gus.publishOnce(container('Lost in transit', [image()])).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(NetworkError);
    const found = await publishing.findPart!(gus.input(container('Lost in transit', [image()])));
    const [pin] = gus.pins();
    expect(found).toEqual({ id: pin.id, url: `https://www.pinterest.com/pin/${pin.id}/`, data: { boardId: boardOf('gus').id } });
  });

  it('answers absent when the create failed before making anything, and does not take an older Pin with the same text', async () => {
    const gus = new Target('gus', { board_id: boardOf('gus', 1).id });
    await gus.publish(container('Said twice', [image()]));
    const again = new Target('gus', { board_id: boardOf('gus', 1).id });
    pinterest.failNext('create', pinterestFailures.serverError());
    await expect(again.publishOnce(container('Said twice', [image()]))).rejects.toMatchObject({ category: 'platform_error' });
    expect(again.beforeCreateCalls).toHaveLength(1);
    // The earlier Pin with the same words was made before this attempt began.
    again.saved = { pending: { ...(again.saved.pending as object), sentAt: Date.now() + 10 * 60_000 } };
    expect(await publishing.findPart!(again.input(container('Said twice', [image()])))).toBe('absent');
  });

  it('cannot tell a Pin without text or title from another, so answers unknown rather than risk a second one', async () => {
    const gus = new Target('gus', { board_id: boardOf('gus', 1).id });
    pinterest.publishing.loseNextCreateAnswer = true;
    await expect(gus.publishOnce(container('', [image()]))).rejects.toBeInstanceOf(NetworkError);
    expect(await publishing.findPart!(gus.input(container('', [image()])))).toBe('unknown');
  });

  it('answers unknown when nothing was announced, and throws a retryable error when the board cannot be read now', async () => {
    const gus = new Target('gus', { board_id: boardOf('gus').id });
    expect(await publishing.findPart!(gus.input(container('never sent', [image()])))).toBe('unknown');
    gus.saved = { pending: { boardId: boardOf('gus').id, sectionId: null, description: 'x', title: null, sentAt: Date.now() } };
    pinterest.failNext('board-pins', pinterestFailures.serverError());
    await expect(publishing.findPart!(gus.input(container('x', [image()])))).rejects.toMatchObject({ category: 'platform_error' });
  });
});

describe('deleting', () => {
  it('deletes a Pin, and one already gone counts as deleted', async () => {
    const hal = new Target('hal', { board_id: boardOf('hal').id });
    const part = await hal.publish(container('Delete me later', [image()]));
    const ctx = { app: appCredentials, accessToken: hal.token, account: accountOf('hal'), options: {} };
    await publishing.deletePart!({ ...ctx, part });
    expect(hal.pins().find((p) => p.id === part.id)).toBeUndefined();
    await expect(publishing.deletePart!({ ...ctx, part })).resolves.toBeUndefined();
  });

  it("refuses to delete someone else's Pin as permission_missing", async () => {
    const hal = new Target('hal', { board_id: boardOf('hal').id });
    const part = await hal.publish(container('Mine, not yours', [image()]));
    const other = { app: appCredentials, accessToken: pinterest.issueToken(user('fay').id), account: accountOf('fay'), options: {} };
    await expect(publishing.deletePart!({ ...other, part })).rejects.toMatchObject({ category: 'permission_missing' });
  });
});

describe('boards and metrics', () => {
  const call = (name: string) => ({ app: appCredentials, accessToken: pinterest.issueToken(user(name).id), account: accountOf(name) });

  it('lists every board across pages, with the sections of each, and the default board when there is only one', async () => {
    const options = await publishing.describeOptions!(call('jon'));
    const boards = options.boards as Array<{ id: string; name: string; sections?: Array<{ id: string; name: string }> }>;
    expect(boards).toHaveLength(260);
    expect(options.boards_complete).toBe(true);
    expect(options.default_board_id).toBeNull();
    expect(boards[0]).toMatchObject({ id: boardOf('jon').id, name: 'Board 1', privacy: 'PUBLIC', sections: [{ id: boardOf('jon').sections![0].id, name: 'Drafts' }] });
    expect(boards[2].sections).toEqual([]);
    const ben = await publishing.describeOptions!(call('ben'));
    expect(ben.default_board_id).toBe(boardOf('ben').id);
  });

  it("reads a business account's counts and its engagement in the period", async () => {
    const until = new Date();
    const since = new Date(until.getTime() - 30 * 86_400_000);
    const m = await adapter.metrics!.read({ ...call('cleo'), since, until });
    expect(m).toEqual({
      followersCount: user('cleo').followers,
      followingCount: user('cleo').following,
      postsCount: 12,
      engagement: { impressions: 516, saves: 4, clicks: 23 },
      platformSpecific: {
        monthly_views: user('cleo').monthlyViews,
        board_count: 2,
        account_type: 'BUSINESS',
        analytics_period: { start_date: since.toISOString().slice(0, 10), end_date: until.toISOString().slice(0, 10) },
        engagement_total: 27,
        pin_clicks: 18,
        outbound_clicks: 5,
      },
    });
  });

  it("reads a personal account's counts, with no engagement (Pinterest's analytics are for business accounts), and none older than 90 days", async () => {
    const now = Date.now();
    const personal = await adapter.metrics!.read({ ...call('eli'), since: new Date(now - 7 * 86_400_000), until: new Date(now) });
    expect(personal).toMatchObject({ followersCount: user('eli').followers, engagement: null, platformSpecific: { analytics_unavailable: 'Not authorized to access the user account analytics.' } });
    const old = await adapter.metrics!.read({ ...call('cleo'), since: new Date(now - 120 * 86_400_000), until: new Date(now - 100 * 86_400_000) });
    expect(old.engagement).toBeNull();
    expect(old.followersCount).toBe(user('cleo').followers);
  });

  it('declares api.pinterest.com as the only origin the proxy reaches, with the bearer token', () => {
    expect(adapter.api).toEqual({ origin: 'https://api.pinterest.com' });
  });
});

describe('through our API', () => {
  let t: TestServer;
  const accounts: Record<string, string> = {};

  beforeAll(async () => {
    const upstreams = Object.fromEntries(PINTEREST_ORIGINS.map((o) => [o, pinterest.origin]));
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(upstreams) }, { worker: true });
    pinterest.allowRedirectUri(`${t.url}/oauth/pinterest/callback`);
    await configureNetwork(t, 'pinterest', { client_key: APP.clientId, client_secret: APP.clientSecret });
    for (const name of ['cleo', 'kit']) {
      pinterest.signIn(user(name).id);
      const params = resultOf(await connectThroughBrowser(t, 'pinterest', { tenant_id: `tenant-${name}` }));
      expect(params.get('status'), params.toString()).toBe('success');
      accounts[name] = params.get('account_id')!;
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  const settled = (id: string) => settledPost(t, id);

  async function uploaded(filename = 'pin.png', bytes: Buffer = makePng(200, 300), contentType = 'image/png') {
    const upload = await t.api('POST', '/v1/media/upload', { filename });
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    const put = await fetch(upload.body.data.upload_url, { method: 'PUT', headers: { 'content-type': contentType }, body: bytes });
    expect(put.status).toBeLessThan(300);
    const confirmed = await t.api('POST', `/v1/media/${upload.body.data.id}/confirm`, {});
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    return confirmed.body.data ?? confirmed.body;
  }

  it('publishes a Pin through POST /v1/posts (Pinterest fetching our media URL), shows its id and URL, and deletes it at Pinterest', async () => {
    const file = await uploaded();
    const travel = boardOf('cleo', 1);
    const created = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'Lisbon in three days', media: [{ id: file.id, alt: 'Tram 28 on a hill' }] }],
      accounts: [accounts.cleo],
      pinterest: { board_id: travel.id, title: 'Lisbon', link: 'https://example.com/lisbon' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post.socialAccounts)).toBe('published');

    const pin = pinterest.pinsOf(user('cleo').id).find((p) => p.description === 'Lisbon in three days')!;
    expect(pin).toMatchObject({ boardId: travel.id, title: 'Lisbon', link: 'https://example.com/lisbon', altText: 'Tram 28 on a hill' });
    expect(pin.fetched[0].url.startsWith(`${t.url}/`)).toBe(true);
    expect(pin.fetched[0].contentType).toBe('image/png');
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published', platformPostId: pin.id, platformPostUrl: `https://www.pinterest.com/pin/${pin.id}/` });

    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(pinterest.pinsOf(user('cleo').id).find((p) => p.id === pin.id)).toBeUndefined();
  });

  it('publishes a video Pin through the worker: the file streamed from our store to the S3 form, the image beside it as the cover', async () => {
    pinterest.publishing.processing = { polls: 1, fail: false };
    const clip = await uploaded('clip.mp4', makeMp4({ width: 720, height: 1280, durationSeconds: 5 }), 'video/mp4');
    expect(clip).toMatchObject({ content_type: 'video/mp4', duration_seconds: expect.any(Number) });
    const cover = await uploaded();
    const created = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'Five seconds of rain', media: [{ id: clip.id }, { id: cover.id }] }],
      accounts: [accounts.kit],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post.socialAccounts)).toBe('published');
    const pin = pinterest.pinsOf(user('kit').id).find((p) => p.description === 'Five seconds of rain')!;
    const upload = pinterest.publishing.media.get(pin.mediaSource.media_id as string)!;
    expect(upload.uploaded).toMatchObject({ size: clip.size, contentType: 'video/mp4' });
    expect(pin.mediaSource.cover_image_url).toBe(pin.fetched[0].url);
    expect(pin.fetched[0].url.startsWith(`${t.url}/`)).toBe(true);
  });

  it("publishes through Ocoya's POST /post to the account's only board", async () => {
    const key = { 'x-api-key': t.apiKey, 'content-type': 'application/json' };
    const workspaces = (await (await fetch(`${t.url}/api/_public/v1/workspaces`, { headers: key })).json()) as Array<{ id: string }>;
    const mediaUrl = pinterest.host('ocoya-photo.png', makePng(120, 180), 'image/png');
    const res = await fetch(`${t.url}/api/_public/v1/post?workspaceId=${workspaces[0].id}`, {
      method: 'POST',
      headers: key,
      body: JSON.stringify({ caption: 'Posted the Ocoya way', mediaUrls: [mediaUrl], socialProfileIds: [accounts.kit], scheduledAt: new Date().toISOString() }),
    });
    const body = (await res.json()) as { postGroupId: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    const post = await settled(body.postGroupId);
    expect(post.status, JSON.stringify(post.socialAccounts)).toBe('published');
    const pin = pinterest.pinsOf(user('kit').id).find((p) => p.description === 'Posted the Ocoya way')!;
    expect(pin.boardId).toBe(boardOf('kit').id);
  });

  it('refuses at preflight, naming the account, what Pinterest cannot take: no board among several, an unknown board, a second part, no media', async () => {
    const file = await uploaded();
    const media = [{ id: file.id }];
    const refused = async (body: Record<string, unknown>) => {
      const res = await t.api('POST', '/v1/posts', { accounts: [accounts.cleo], ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      return (res.body.details.accounts[accounts.cleo]._errors as string[]).join(' ');
    };
    expect(await refused({ containers: [{ content: 'which board?', media }] })).toContain(`set pinterest.board_id to one of this account's boards: Recipes (${boardOf('cleo').id})`);
    expect(await refused({ containers: [{ content: 'nowhere', media }], pinterest: { board_id: '31337' } })).toContain('Pinterest has no board 31337');
    expect(await refused({ containers: [{ content: 'one', media }, { content: 'two' }], pinterest: { board_id: boardOf('cleo').id } })).toContain('no threads or comments');
    expect(await refused({ containers: [{ content: 'just words' }], pinterest: { board_id: boardOf('cleo').id } })).toContain('needs an image or a video');
  });

  it('fails the target in plain words when the app has only Trial access', async () => {
    const file = await uploaded();
    pinterest.publishing.access = 'trial';
    const created = await t.api('POST', '/v1/posts', { containers: [{ content: 'On trial', media: [{ id: file.id }] }], accounts: [accounts.kit] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'app_not_approved' });
    expect(post.socialAccounts[0].error).toContain('Standard access');
  });

  it('answers the account’s metrics and publishing options, read from Pinterest', async () => {
    const metrics = await t.api('GET', `/v1/social-accounts/${accounts.cleo}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(metrics.body.data).toMatchObject({
      network: 'pinterest',
      followers_count: user('cleo').followers,
      following_count: user('cleo').following,
      engagement: { impressions: 516, saves: 4, clicks: 23 },
      platform_specific: { monthly_views: user('cleo').monthlyViews },
    });
    const options = await t.api('GET', `/v1/social-accounts/${accounts.cleo}/publishing-options`);
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(options.body.data.options.boards.map((b: { name: string }) => b.name)).toEqual(['Recipes', 'Travel']);
    expect(options.body.data.options.boards[0].sections).toEqual(boardOf('cleo').sections);
  });

  it('calls Pinterest directly through the proxy with the account’s bearer token', async () => {
    const calls = pinterest.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accounts.kit}/proxy/v5/boards?page_size=10`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items.map((b: { id: string }) => b.id)).toEqual([boardOf('kit').id]);
    const call = pinterest.state.calls.slice(calls).find((c) => c.path === '/v5/boards')!;
    expect(call.authorization).toMatch(/^Bearer pinat_/);
    expect(call.query.page_size).toBe('10');
  });
});
