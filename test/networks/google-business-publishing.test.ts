// Google Business Profile publishing, the adapter against the Google Business emulator: STANDARD posts (text, one
// photo Google fetches from our URL, a call to action), EVENT and OFFER posts with their schedules, posts Google
// processes before they go LIVE or are REJECTED, the options' rules, every refusal the adapter classifies (a project
// not yet approved among them), finding a post after an unknown outcome, deleting, the location's metrics, its
// publishing options and the proxy; then through our API: POST /v1/posts and Ocoya's POST /post published by the
// worker, a photo uploaded to us and fetched by Google, metrics, publishing options, the proxy and preflight.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGoogleBusinessAdapter } from '../../src/providers/google-business/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import {
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
import { makeJpeg, makePng } from '../helpers/media-fixtures.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { GOOGLE_BUSINESS_ORIGINS, googleFailures, startGoogleBusinessEmulator, type GoogleBusinessEmulator, type GoogleUser, type InjectedAnswer } from '../emulators/google-business.ts';

const APP = { clientId: '123456789-abc.apps.googleusercontent.com', clientSecret: 'GOCSPX-secret' };
const SCOPE = 'https://www.googleapis.com/auth/business.manage';
const app = { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: [], options: {} };
const LOCATION = 'accounts/100/locations/1000';
const SECOND = 'accounts/100/locations/1001';
const USERS: GoogleUser[] = [
  {
    id: 'baker',
    accounts: [
      {
        name: 'accounts/100',
        accountName: 'Bakery',
        locations: [
          { name: 'locations/1000', title: 'Bäckerei Hauptstraße', languageCode: 'de' },
          { name: 'locations/1001', title: 'Bäckerei Bahnhof' },
        ],
      },
    ],
  },
  { id: 'stranger', accounts: [{ name: 'accounts/900', accountName: 'Elsewhere', locations: [{ name: 'locations/9000', title: 'Elsewhere' }] }] },
  { id: 'cafe', accounts: [{ name: 'accounts/200', accountName: 'Café', locations: [{ name: 'locations/2000', title: 'Corner Café', languageCode: 'en' }] }] },
];
const accountFor = (location: string) => {
  const [accountName, locationName] = [location.split('/locations/')[0], `locations/${location.split('/locations/')[1]}`];
  return { networkUniqueId: locationName, username: null, accountType: 'location' as const, metadata: { accountName, locationName, locationsInGrant: 2 } };
};
const account = accountFor(LOCATION);

let g: GoogleBusinessEmulator;
let adapter: NetworkAdapter;
let token: string;
let photos: Server;
let photoOrigin: string;
const served = new Map<string, { type: string; bytes: Buffer }>();

/** An access token from the emulator's own OAuth flow (consent, then the code exchanged). */
async function tokenFor(userId: string, scope = SCOPE): Promise<string> {
  const redirectUri = 'http://127.0.0.1:9/callback';
  g.allowRedirectUri(redirectUri);
  g.signIn(userId);
  const consent = new URL(`${g.origin}/o/oauth2/v2/auth`);
  for (const [k, v] of Object.entries({ client_id: APP.clientId, redirect_uri: redirectUri, response_type: 'code', scope, access_type: 'offline' })) consent.searchParams.set(k, v);
  const back = await fetch(consent, { redirect: 'manual' });
  const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
  const res = await fetch(`${g.origin}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: APP.clientId, client_secret: APP.clientSecret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  g = await startGoogleBusinessEmulator({ app: APP, users: USERS });
  const upstream = new UpstreamClient(Object.fromEntries(GOOGLE_BUSINESS_ORIGINS.map((o) => [o, g.origin])), 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createGoogleBusinessAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v26.0' } });
  token = await tokenFor('baker');
  // Our public media URLs, as Google fetches them.
  photos = createServer((req, res) => {
    const photo = served.get(req.url ?? '');
    if (!photo) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': photo.type, 'content-length': photo.bytes.length }).end(photo.bytes);
  });
  await new Promise<void>((resolve) => photos.listen(0, '127.0.0.1', resolve));
  photoOrigin = `http://127.0.0.1:${(photos.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await g?.close();
  await new Promise((resolve) => photos?.close(resolve));
});
beforeEach(() => {
  g.settings.processingReads = 0;
  g.settings.outcome = 'LIVE';
  g.settings.editsPerMinute = 10_000;
  g.state.quotaZero = false;
});

const unique = (words: string) => `${words} ${randomBytes(4).toString('hex')}`;
const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });

/** A photo served at a URL of ours, as PublishMedia. */
function photo(kind: 'jpeg' | 'png' = 'jpeg', bytes = kind === 'jpeg' ? makeJpeg(400, 300, { padTo: 20 * 1024 }) : makePng(400, 300, { padTo: 20 * 1024 })) {
  const path = `/media/${randomBytes(8).toString('hex')}`;
  const type = `image/${kind}`;
  served.set(path, { type, bytes });
  return mediaFromBytes(bytes, { kind: 'image', contentType: type, width: 400, height: 300, url: `${photoOrigin}${path}` });
}

/** One call of publishPart as the engine makes it, recording what the adapter saved and when it was about to create. */
function partCall(
  part: PublishContainer,
  opts: { saved?: SavedProgress; accessToken?: string; options?: Record<string, unknown>; location?: string } = {},
) {
  const location = opts.location ?? LOCATION;
  const record = { beforeCreate: [] as SavedProgress[], postsAtBeforeCreate: -1 };
  const input: PartInput = {
    app,
    accessToken: opts.accessToken ?? token,
    account: accountFor(location),
    options: opts.options ?? {},
    container: part,
    root: null,
    previous: null,
    saved: opts.saved ?? {},
    async beforeCreate(saved) {
      record.beforeCreate.push(saved);
      record.postsAtBeforeCreate = g.postsOf(location).length;
    },
    async save() {},
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

const options = (raw: Record<string, unknown>) => adapter.publishing!.optionsSchema!.safeParse(raw);
const problemsOf = (raw: Record<string, unknown>) => {
  const parsed = options(raw);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('posts', () => {
  it('publishes a STANDARD update in the location’s language, telling the engine just before, and links its Google search page', async () => {
    const text = unique('Frische Brezeln ab 6 Uhr 🥨');
    const before = g.postsOf(LOCATION).length;
    const calls = g.state.calls.length;
    const { run, record } = partCall(container(text));
    const part = await published(run());

    const [post] = g.postsOf(LOCATION);
    expect(post.body).toEqual({ languageCode: 'de', topicType: 'STANDARD', summary: text });
    expect(part).toEqual({ id: post.name, url: post.searchUrl });
    expect(part.id).toMatch(/^accounts\/100\/locations\/1000\/localPosts\/\d+$/);
    expect(record.beforeCreate).toEqual([{ startedAt: expect.any(Number) }]);
    expect(record.postsAtBeforeCreate).toBe(before);
    const create = g.state.calls.slice(calls).find((c) => c.method === 'POST' && c.path === `/v4/${LOCATION}/localPosts`)!;
    expect(create.authorization).toBe(`Bearer ${token}`);
  });

  it('attaches one photo by our public URL, which Google fetches, with a LEARN_MORE button', async () => {
    const image = photo('png');
    const text = unique('Our new sourdough');
    const part = await published(partCall(container(text, [image]), { options: { callToAction: { actionType: 'LEARN_MORE', url: 'https://bakery.example/sourdough' }, languageCode: 'en-GB' } }).run());
    const post = g.posts.get(part.id)!;
    expect(post.body).toMatchObject({
      languageCode: 'en-GB',
      summary: text,
      media: [{ mediaFormat: 'PHOTO', sourceUrl: image.url }],
      callToAction: { actionType: 'LEARN_MORE', url: 'https://bakery.example/sourdough' },
    });
    expect(post.photoBytes).toBe(image.size);
  });

  it('sends a CALL button without a url: Google calls the location’s phone', async () => {
    const part = await published(partCall(container(unique('Call to order a cake')), { options: { callToAction: { actionType: 'CALL' } } }).run());
    expect(g.posts.get(part.id)!.body.callToAction).toEqual({ actionType: 'CALL' });
  });

  it('publishes an EVENT with its title and a complete schedule (whole days when no times are given)', async () => {
    const allDay = await published(
      partCall(container(unique('Harvest festival')), { options: { topicType: 'EVENT', event: { title: 'Harvest festival', schedule: { startDate: '2026-12-12', endDate: '2026-12-13' } } } }).run(),
    );
    expect(g.posts.get(allDay.id)!.body.event).toEqual({
      title: 'Harvest festival',
      schedule: { startDate: { year: 2026, month: 12, day: 12 }, startTime: { hours: 0, minutes: 0 }, endDate: { year: 2026, month: 12, day: 13 }, endTime: { hours: 23, minutes: 59 } },
    });
    const timed = await published(
      partCall(container(unique('Baking class')), {
        options: { topicType: 'EVENT', event: { title: 'Baking class', schedule: { startDate: '2026-12-20', startTime: '18:30', endDate: '2026-12-20', endTime: '21:00' } }, callToAction: { actionType: 'SIGN_UP', url: 'https://bakery.example/class' } },
      }).run(),
    );
    expect(g.posts.get(timed.id)!.body).toMatchObject({
      topicType: 'EVENT',
      event: { schedule: { startTime: { hours: 18, minutes: 30 }, endTime: { hours: 21, minutes: 0 } } },
      callToAction: { actionType: 'SIGN_UP' },
    });
  });

  it('publishes an OFFER with its validity and coupon', async () => {
    const offer = { couponCode: 'BREZEL2', redeemOnlineUrl: 'https://bakery.example/redeem', termsConditions: 'One per customer.' };
    const part = await published(
      partCall(container(unique('Two pretzels for one')), { options: { topicType: 'OFFER', event: { title: 'Pretzel week', schedule: { startDate: '2026-12-07', endDate: '2026-12-14' } }, offer } }).run(),
    );
    expect(g.posts.get(part.id)!.body).toMatchObject({ topicType: 'OFFER', offer, event: { title: 'Pretzel week', schedule: { startDate: { day: 7 }, endDate: { day: 14 } } } });
  });

  it('waits while Google processes the post, across calls, until it is LIVE', async () => {
    g.settings.processingReads = 2;
    const text = unique('Processed first');
    const first = await partCall(container(text)).run();
    expect(first.status).toBe('processing');
    const { saved, checkAfterSeconds } = first as Extract<PartOutcome, { status: 'processing' }>;
    expect(checkAfterSeconds).toBe(30);
    expect(saved).toEqual({ startedAt: expect.any(Number), name: g.postsOf(LOCATION)[0].name });

    const posts = g.posts.size;
    const second = partCall(container(text), { saved });
    expect((await second.run()).status).toBe('processing');
    const part = await published(partCall(container(text), { saved }).run());
    // Polling never creates: one post, no second beforeCreate.
    expect(g.posts.size).toBe(posts);
    expect(second.record.beforeCreate).toHaveLength(0);
    expect(part).toEqual({ id: saved.name, url: g.posts.get(saved.name as string)!.searchUrl });
  });

  it('fails the part as content when Google rejects the post, at once or after processing', async () => {
    g.settings.outcome = 'REJECTED';
    const atOnce = await publishError(partCall(container(unique('Rejected'))).run());
    expect(atOnce).toMatchObject({ category: 'user_content', platformCode: 'state=REJECTED' });
    expect(atOnce.message).toContain('content policy');

    g.settings.processingReads = 1;
    const started = (await partCall(container(unique('Rejected later'))).run()) as Extract<PartOutcome, { status: 'processing' }>;
    expect(started.status).toBe('processing');
    const later = await publishError(partCall(container('Rejected later'), { saved: started.saved }).run());
    expect(later.category).toBe('user_content');
  });

  it('a post removed while Google processed it fails as Google’s doing', async () => {
    g.settings.processingReads = 3;
    const started = (await partCall(container(unique('Removed'))).run()) as Extract<PartOutcome, { status: 'processing' }>;
    g.posts.delete(started.saved.name as string);
    const err = await publishError(partCall(container('Removed'), { saved: started.saved }).run());
    expect(err).toMatchObject({ category: 'platform_rejected', platformCode: 'NOT_FOUND' });
  });

  it('a photo Google cannot fetch, or too small for it, is refused in Google’s words naming the field', async () => {
    const gone = mediaFromBytes(makeJpeg(400, 300, { padTo: 20 * 1024 }), { kind: 'image', contentType: 'image/jpeg', url: `${photoOrigin}/media/never-served` });
    const unreachable = await publishError(partCall(container(unique('Lost photo'), [gone])).run());
    expect(unreachable.category).toBe('user_content');
    expect(unreachable.message).toContain('media[0].source_url: The photo could not be fetched');
    const tiny = await publishError(partCall(container(unique('Tiny photo'), [photo('jpeg', makeJpeg(300, 300))])).run());
    expect(tiny.message).toContain('between 10 KB and 5 MB');
  });
});

describe('options and rules', () => {
  it('declares one part of at most 1,500 characters with one JPEG or PNG photo, and no thread', () => {
    const { rules } = adapter.publishing!;
    expect(rules).toMatchObject({ text: { maxLength: 1500, counting: 'utf16' }, laterContainers: 'none', maxContainers: 1, media: { maxItems: 1 } });
    expect(rules.media.image).toMatchObject({ maxCount: 1, maxBytes: 5 * 1024 * 1024, contentTypes: ['image/jpeg', 'image/png'], minWidth: 250, minHeight: 250 });
    expect(rules.media.video).toBeUndefined();
    expect(rules.media.gif).toBeUndefined();
  });

  it('refuses a photo under 10 KB before Google sees it', () => {
    const small = mediaFromBytes(makePng(300, 300), { kind: 'image', contentType: 'image/png', filename: 'small.png' });
    expect(adapter.publishing!.check!({ containers: [container('x', [small])], options: {}, account })).toEqual([
      expect.stringMatching(/^Google Business Profile takes photos of at least 10 KB \(small\.png has \d+ bytes\)$/),
    ]);
    expect(adapter.publishing!.check!({ containers: [container('x', [photo()])], options: {}, account })).toEqual([]);
  });

  it('accepts each kind of post with what it needs', () => {
    const schedule = { startDate: '2026-12-01', endDate: '2026-12-02' };
    expect(problemsOf({})).toEqual([]);
    expect(problemsOf({ topicType: 'EVENT', event: { title: 'Open day', schedule } })).toEqual([]);
    expect(problemsOf({ topicType: 'OFFER', event: { schedule }, offer: { couponCode: 'X' } })).toEqual([]);
    expect(problemsOf({ callToAction: { actionType: 'ORDER', url: 'https://example.com/order' } })).toEqual([]);
  });

  it('refuses what Google would refuse or ignore, in plain words', () => {
    const schedule = { startDate: '2026-12-01', endDate: '2026-12-02' };
    expect(problemsOf({ topicType: 'ALERT' })).toEqual(['topicType: Google’s ALERT posts (COVID-19 announcements) are being retired: post a STANDARD update instead']);
    expect(problemsOf({ topicType: 'EVENT', event: { schedule } })).toEqual(['event.title: an EVENT post needs event.title']);
    expect(problemsOf({ topicType: 'EVENT', event: { title: 'No dates' } })).toEqual(['event.schedule: an EVENT post needs event.schedule (its start and end)']);
    expect(problemsOf({ topicType: 'OFFER', offer: { couponCode: 'X' } })).toEqual(['event.schedule: an OFFER post needs event.schedule (its start and end)']);
    expect(problemsOf({ topicType: 'OFFER', event: { schedule }, callToAction: { actionType: 'SHOP', url: 'https://example.com' } })).toEqual([
      'callToAction: Google ignores a call to action on an OFFER post: give offer.redeemOnlineUrl instead',
    ]);
    expect(problemsOf({ offer: { couponCode: 'X' } })).toEqual(['offer: offer is only for topicType OFFER']);
    expect(problemsOf({ event: { title: 'T', schedule } })).toEqual(['event: event is only for topicType EVENT or OFFER']);
    expect(problemsOf({ callToAction: { actionType: 'CALL', url: 'https://example.com' } })).toEqual(['callToAction.url: a CALL button takes no url: Google calls the location’s phone number']);
    expect(problemsOf({ callToAction: { actionType: 'BOOK' } })).toEqual(['callToAction.url: a BOOK button needs a url']);
    expect(problemsOf({ topicType: 'EVENT', event: { title: 'Backwards', schedule: { startDate: '2026-12-02', endDate: '2026-12-01' } } })).toEqual(['event.schedule: the schedule must end after it starts']);
    expect(problemsOf({ topicType: 'EVENT', event: { title: 'T', schedule: { ...schedule, startTime: '25:00' } } })[0]).toContain('HH:MM');
    expect(problemsOf({ topicType: 'PRODUCT' })[0]).toMatch(/^topicType: /);
    expect(problemsOf({ callToAction: { actionType: 'GET_OFFER', url: 'https://example.com' } })[0]).toMatch(/^callToAction\.actionType: /);
    expect(problemsOf({ summary: 'not an option' })[0]).toMatch(/Unrecognized key/);
  });
});

describe('errors', () => {
  const cases: Array<[string, () => InjectedAnswer, string, number | undefined, RegExp]> = [
    ['429 with a quota of 0 (project not approved)', () => googleFailures.noQuota('mybusiness.googleapis.com'), 'app_not_approved', undefined, /not approved for the Business Profile APIs.*apply/],
    ['403 SERVICE_DISABLED', () => googleFailures.serviceDisabled(), 'app_not_approved', undefined, /not enabled in this Google Cloud project/],
    ['429 RESOURCE_EXHAUSTED (Retry-After)', googleFailures.rateLimited, 'rate_limited', 60, /limiting requests/],
    ['401 UNAUTHENTICATED', googleFailures.unauthenticated, 'auth_expired', undefined, /reconnect/],
    ['403 PERMISSION_DENIED', googleFailures.permissionDenied, 'permission_missing', undefined, /may not manage this location/],
    ['404 NOT_FOUND', googleFailures.notFound, 'permission_missing', undefined, /does not know this location/],
    ['400 INVALID_ARGUMENT with field violations', () => googleFailures.invalidArgument('summary', 'Too long'), 'user_content', undefined, /\(summary: Too long\)$/],
    ['400 FAILED_PRECONDITION', googleFailures.failedPrecondition, 'platform_rejected', undefined, /Precondition check failed/],
    ['409 ALREADY_EXISTS', googleFailures.alreadyExists, 'duplicate', undefined, /already exists/],
    ['500 INTERNAL', googleFailures.internal, 'platform_error', undefined, /Internal error/],
    ['503 UNAVAILABLE', googleFailures.serverError, 'platform_error', undefined, /unavailable/],
  ];
  for (const [name, answer, category, retryAfter, words] of cases) {
    it(`${name} → ${category}`, async () => {
      g.failNext('localPosts', answer());
      const err = await publishError(partCall(container(unique('Refused'))).run());
      expect(err.category).toBe(category);
      expect(err.retryAfterSeconds).toBe(retryAfter);
      expect(err.message).toMatch(words);
      expect(err.message).toContain('Google said: ');
    });
  }

  it('a project Google has not approved is told so before anything is sent', async () => {
    g.state.quotaZero = true;
    const calls = g.state.calls.length;
    const err = await publishError(partCall(container(unique('Not approved'))).run());
    expect(err.category).toBe('app_not_approved');
    expect(err.platformCode).toBe('RESOURCE_EXHAUSTED');
    expect(g.state.calls.slice(calls).some((c) => c.method === 'POST')).toBe(false);
  });

  it('a login that does not manage the location, and a token without business.manage, are missing permissions', async () => {
    const stranger = await publishError(partCall(container(unique('Not mine')), { accessToken: await tokenFor('stranger'), options: { languageCode: 'en' } }).run());
    expect(stranger).toMatchObject({ category: 'permission_missing', platformCode: 'NOT_FOUND' });
    const unscoped = await publishError(partCall(container(unique('No scope')), { accessToken: await tokenFor('baker', 'openid email'), options: { languageCode: 'en' } }).run());
    expect(unscoped).toMatchObject({ category: 'permission_missing', platformCode: 'PERMISSION_DENIED' });
  });

  it('Google’s 10 edits a minute per profile is a rate limit to wait out', async () => {
    g.settings.editsPerMinute = 1;
    await published(partCall(container(unique('First edit')), { location: SECOND }).run());
    const err = await publishError(partCall(container(unique('Second edit')), { location: SECOND }).run());
    expect(err).toMatchObject({ category: 'rate_limited', retryAfterSeconds: 60 });
  });

  it('an account with no location on record cannot publish', async () => {
    const err = await publishError(adapter.publishing!.publishPart({ ...partCall(container('x')).input, account: { ...account, metadata: {} } }));
    expect(err.category).toBe('permission_missing');
    expect(err.message).toContain('connect it again');
  });
});

describe('finding a post after an unknown outcome', () => {
  const find = (input: PartInput) => adapter.publishing!.findPart!(input);

  it('finds a post that was made, by its summary and creation time', async () => {
    const { input, run, record } = partCall(container(unique('Did it go out?')));
    const part = await published(run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toEqual(part);
  });

  it('says absent when the create never reached Google', async () => {
    const { input, run, record } = partCall(container(unique('Never made')));
    g.failNext('localPosts', googleFailures.internal());
    await publishError(run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('absent');
  });

  it('says unknown when the same summary went out twice since the attempt, or without the time saved', async () => {
    const text = unique('Twice');
    const { input, run, record } = partCall(container(text));
    await published(run());
    await published(partCall(container(text)).run());
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toBe('unknown');
    expect(await find(partCall(container('No progress')).input)).toBe('unknown');
  });

  it('finds a post Google is still processing (it has no search link yet), and not one Google rejected', async () => {
    g.settings.processingReads = 5;
    const processing = partCall(container(unique('Still processing')));
    expect((await processing.run()).status).toBe('processing');
    expect(await find({ ...processing.input, saved: processing.record.beforeCreate[0] })).toEqual({ id: g.postsOf(LOCATION)[0].name, url: null });

    g.settings.processingReads = 0;
    g.settings.outcome = 'REJECTED';
    const rejected = partCall(container(unique('Rejected, then looked for')));
    await publishError(rejected.run());
    expect(await find({ ...rejected.input, saved: rejected.record.beforeCreate[0] })).toBe('unknown');
  });

  it('reads every page of the location’s posts', async () => {
    const { input, run, record } = partCall(container(unique('Found on a later page')), { location: SECOND });
    const part = await published(run());
    for (let i = 0; i < 120; i++) await published(partCall(container(unique('Filler')), { location: SECOND }).run());
    const calls = g.state.calls.length;
    expect(await find({ ...input, saved: record.beforeCreate[0] })).toEqual(part);
    expect(g.state.calls.slice(calls).filter((c) => c.path === `/v4/${SECOND}/localPosts`)).toHaveLength(2);
  });
});

describe('deleting', () => {
  it('deletes the post at Google, and one already gone counts as deleted', async () => {
    const part = await published(partCall(container(unique('To delete'))).run());
    const remove = () => adapter.publishing!.deletePart!({ app, accessToken: token, account, options: {}, part });
    await remove();
    expect(g.posts.has(part.id)).toBe(false);
    await expect(remove()).resolves.toBeUndefined();
  });

  it('a refusal to delete is classified', async () => {
    const part = await published(partCall(container(unique('Kept'))).run());
    const err = await publishError(adapter.publishing!.deletePart!({ app, accessToken: await tokenFor('stranger'), account, options: {}, part }));
    expect(err.category).toBe('permission_missing');
    expect(g.posts.has(part.id)).toBe(true);
  });
});

describe('metrics, publishing options, preflight and the proxy', () => {
  const ctx = () => ({ app, accessToken: token, account });

  it('reads the location’s impressions and clicks for the period from the Performance API; a location has no followers', async () => {
    g.settings.dailyValues = {
      BUSINESS_IMPRESSIONS_DESKTOP_MAPS: 3,
      BUSINESS_IMPRESSIONS_DESKTOP_SEARCH: 5,
      BUSINESS_IMPRESSIONS_MOBILE_MAPS: 7,
      BUSINESS_IMPRESSIONS_MOBILE_SEARCH: 11,
      CALL_CLICKS: 2,
      WEBSITE_CLICKS: 4,
    };
    const calls = g.state.calls.length;
    const metrics = await adapter.metrics!.read({ ...ctx(), since: new Date('2026-11-01T10:00:00Z'), until: new Date('2026-11-03T09:00:00Z') });
    // Three days (1, 2 and 3 November), every one counted; direction requests had no value, which is 0.
    expect(metrics).toEqual({
      followersCount: null,
      followingCount: null,
      postsCount: null,
      engagement: { impressions: 3 * 26, clicks: 3 * 6 },
      platformSpecific: {
        businessImpressionsDesktopMaps: 9,
        businessImpressionsDesktopSearch: 15,
        businessImpressionsMobileMaps: 21,
        businessImpressionsMobileSearch: 33,
        callClicks: 6,
        websiteClicks: 12,
        directionRequests: 0,
      },
    });
    const call = g.state.calls.slice(calls).find((c) => c.path.endsWith(':fetchMultiDailyMetricsTimeSeries'))!;
    expect(call.path).toBe('/v1/locations/1000:fetchMultiDailyMetricsTimeSeries');
    expect(call.query).toMatchObject({ 'dailyRange.start_date.day': '1', 'dailyRange.end_date.day': '3', 'dailyRange.end_date.month': '11' });
  });

  it('a project not approved for the Performance API is told so', async () => {
    g.failNext('performance', googleFailures.noQuota('businessprofileperformance.googleapis.com'));
    const err = await publishError(adapter.metrics!.read({ ...ctx(), since: new Date('2026-11-01'), until: new Date('2026-11-02') }));
    expect(err.category).toBe('app_not_approved');
  });

  it('describes what a post to this location may choose', async () => {
    expect(await adapter.publishing!.describeOptions!(ctx())).toMatchObject({
      location: { name: 'locations/1000', title: 'Bäckerei Hauptstraße', languageCode: 'de' },
      topicTypes: ['STANDARD', 'EVENT', 'OFFER'],
      callToActionTypes: ['BOOK', 'ORDER', 'SHOP', 'LEARN_MORE', 'SIGN_UP', 'CALL'],
      summaryMaxLength: 1500,
      media: { photos: 1, videos: 0 },
    });
  });

  it('asks Google at preflight whether the project is approved and the login still manages the location', async () => {
    const check = (accessToken = token) => adapter.publishing!.checkAtNetwork!({ app, accessToken, account, options: {}, containers: [container('x')] });
    expect(await check()).toEqual([]);
    g.state.quotaZero = true;
    expect((await check())[0]).toMatch(/^This Google Cloud project is not approved for the Business Profile APIs yet/);
    g.state.quotaZero = false;
    expect((await check(await tokenFor('stranger')))[0]).toMatch(/^Google does not know this location any more/);
    g.failNext('api', googleFailures.serverError());
    await expect(check()).rejects.toBeInstanceOf(PublishError);
  });

  it('calls mybusiness.googleapis.com with the bearer token', async () => {
    expect(adapter.api).toEqual({ origin: 'https://mybusiness.googleapis.com' });
    const res = await fetch(`${g.origin}/v4/${LOCATION}/localPosts?pageSize=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
  });
});

describe('through our API', () => {
  let t: TestServer;
  let accountId: string;
  const CAFE = 'accounts/200/locations/2000';

  beforeAll(async () => {
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(Object.fromEntries(GOOGLE_BUSINESS_ORIGINS.map((o) => [o, g.origin]))) }, { worker: true });
    g.allowRedirectUri(`${t.url}/oauth/google_business/callback`);
    await configureNetwork(t, 'google_business', { client_key: APP.clientId, client_secret: APP.clientSecret });
    g.signIn('cafe');
    const params = resultOf(await connectThroughBrowser(t, 'google_business', { tenant_id: 'tenant-cafe' }));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;
  });
  afterAll(async () => {
    await t?.close();
  });

  const settled = (id: string) => settledPost(t, id, 200);

  it('publishes an EVENT with a photo uploaded to us through POST /v1/posts, shows its URL, and deletes it at Google', async () => {
    const bytes = makeJpeg(600, 400, { padTo: 30 * 1024 });
    const upload = await t.api('POST', '/v1/media/upload', { filename: 'cake.jpg' });
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    expect((await fetch(upload.body.data.upload_url, { method: 'PUT', body: bytes })).status).toBe(200);
    const confirmed = await t.api('POST', `/v1/media/${upload.body.data.id}/confirm`, { size: bytes.length });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);

    const text = unique('Cake tasting on Saturday');
    const created = await t.api('POST', '/v1/posts', {
      containers: [{ content: text, media: [{ id: upload.body.data.id }] }],
      accounts: [accountId],
      google_business: { topicType: 'EVENT', event: { title: 'Cake tasting', schedule: { startDate: '2026-12-19', startTime: '14:00', endDate: '2026-12-19', endTime: '17:00' } } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');

    const [local] = g.postsOf(CAFE);
    expect(local.body).toMatchObject({ summary: text, topicType: 'EVENT', languageCode: 'en', event: { title: 'Cake tasting' } });
    // Google fetched the photo from our public media URL.
    expect(local.photoBytes).toBe(bytes.length);
    expect(post.socialAccounts[0]).toMatchObject({ id: accountId, network: 'google_business', status: 'published', platformPostId: local.name, platformPostUrl: local.searchUrl });

    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(g.posts.has(local.name)).toBe(false);
  });

  it('publishes through Ocoya’s POST /post', async () => {
    const headers = { 'x-api-key': t.apiKey, 'content-type': 'application/json' };
    const [workspace] = (await (await fetch(`${t.url}/api/_public/v1/workspaces`, { headers })).json()) as Array<{ id: string }>;
    const caption = unique('Ocoya says hello from the café');
    const res = await fetch(`${t.url}/api/_public/v1/post?workspaceId=${workspace.id}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ caption, socialProfileIds: [accountId], scheduledAt: new Date().toISOString() }),
    });
    const body = (await res.json()) as { postGroupId: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    const post = await settled(body.postGroupId);
    expect(post.status).toBe('published');
    expect(g.postsOf(CAFE)[0].body).toMatchObject({ summary: caption, topicType: 'STANDARD' });
  });

  it('fails the target in plain words when Google rejects the post', async () => {
    g.settings.outcome = 'REJECTED';
    const created = await t.api('POST', '/v1/posts', { content: unique('Against policy'), accounts: [accountId] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'user_content' });
    expect(post.socialAccounts[0].error).toContain('content policy');
  });

  it('answers the location’s metrics and publishing options', async () => {
    g.settings.dailyValues = { WEBSITE_CLICKS: 1, BUSINESS_IMPRESSIONS_MOBILE_SEARCH: 10 };
    const metrics = await t.api('GET', `/v1/social-accounts/${accountId}/metrics?since=2026-11-01T00:00:00Z&until=2026-11-10T00:00:00Z`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(metrics.body.data).toMatchObject({ network: 'google_business', followers_count: null, engagement: { impressions: 100, clicks: 10 }, platform_specific: { websiteClicks: 10 } });

    const described = await t.api('GET', `/v1/social-accounts/${accountId}/publishing-options`);
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    expect(described.body.data.options).toMatchObject({ location: { title: 'Corner Café' }, topicTypes: ['STANDARD', 'EVENT', 'OFFER'] });

    g.state.quotaZero = true;
    const refused = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'app_not_approved' });
  });

  it('reaches the v4 API through the proxy with the account’s token', async () => {
    const calls = g.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/v4/${CAFE}/localPosts?pageSize=5`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.localPosts.length).toBeGreaterThan(0);
    const call = g.state.calls.slice(calls).find((c) => c.path === `/v4/${CAFE}/localPosts`)!;
    expect(call.authorization).toMatch(/^Bearer ya29\./);
  });

  it('refuses at preflight what Google cannot take, naming the account', async () => {
    const long = await t.api('POST', '/v1/posts', { content: 'x'.repeat(1501), accounts: [accountId] });
    expect(long.status).toBe(400);
    expect(JSON.stringify(long.body)).toContain(accountId);
    expect(JSON.stringify(long.body.details)).toContain('1500');

    const thread = await t.api('POST', '/v1/posts', { containers: [{ content: 'one' }, { content: 'two' }], accounts: [accountId] });
    expect(thread.status).toBe(400);

    const noTitle = await t.api('POST', '/v1/posts', { content: 'An event', accounts: [accountId], google_business: { topicType: 'EVENT', event: { schedule: { startDate: '2026-12-01', endDate: '2026-12-02' } } } });
    expect(noTitle.status).toBe(400);
    expect(JSON.stringify(noTitle.body.details)).toContain('an EVENT post needs event.title');

    g.state.quotaZero = true;
    const unapproved = await t.api('POST', '/v1/posts', { content: unique('Not approved yet'), accounts: [accountId] });
    expect(unapproved.status).toBe(400);
    expect(JSON.stringify(unapproved.body.details)).toContain('not approved for the Business Profile APIs');
  });
});
