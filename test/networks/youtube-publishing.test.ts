// YouTube publishing, the adapter against the Google emulator's YouTube routes (test/emulators/youtube.ts) through
// the upstream client's origin map: resumable uploads in 256 KiB multiples, resumed after a cut by asking the
// session, restarted when the session is gone; processing across calls to its outcome; thumbnails; Shorts; comments;
// every classified error; reconciliation of an open last chunk; deletion; metrics; publishing options — and the
// same through our API with the worker.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createYouTubeAdapter } from '../../src/providers/youtube/index.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import {
  PublishError,
  type NetworkAdapter,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishContainer,
  type PublishedPart,
  type FoundProcessing,
  type PublishMedia,
  type SavedProgress,
} from '../../src/providers/types.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import { makeJpeg, makeMp4 } from '../helpers/media-fixtures.ts';
import { YOUTUBE_ORIGINS, type GoogleUser } from '../emulators/google.ts';
import { startYouTubeEmulator, youTubeFailures, type YouTubeEmulator } from '../emulators/youtube.ts';
import { configureNetwork, connectThroughBrowser, resultOf } from '../helpers/network-flow.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { settledPost } from '../helpers/posts.ts';
import { eq } from 'drizzle-orm';
import { postTargets } from '../../src/db/schema.ts';

const APP = { clientId: '123456789012-pub.apps.googleusercontent.com', clientSecret: 'GOCSPX-youtube-publishing' };
const SCOPE = (s: string) => `https://www.googleapis.com/auth/${s}`;
const ALL_SCOPES = ['youtube.upload', 'youtube.readonly', 'youtube.force-ssl'].map(SCOPE);
const CALLBACK = 'http://127.0.0.1:9/adapter-tests/callback';
const MiB = 1024 * 1024;
const KiB = 1024;

const channelOf = (name: string) => `UC${name.padEnd(22, 'y')}`;
const USERS: GoogleUser[] = [
  ...['ada', 'ben', 'cleo', 'dora', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jo', 'kai', 'lea', 'max'].map((name) => ({
    id: `g-${name}`,
    email: `${name}@example.com`,
    channels: [
      {
        id: channelOf(name),
        title: `${name} channel`,
        customUrl: `@${name}`,
        parts: {
          country: name === 'ben' ? 'DE' : undefined,
          statistics: { viewCount: '120345', subscriberCount: '4200', hiddenSubscriberCount: name === 'ben', videoCount: '37' },
          status: { privacyStatus: 'public', longUploadsStatus: name === 'cleo' ? 'eligible' : 'allowed', madeForKids: false },
        },
      },
    ],
  })),
  { id: 'g-none', email: 'none@example.com', channels: [] },
];

let google: YouTubeEmulator;
let adapter: NetworkAdapter;
let publishing: NetworkPublishing;

beforeAll(async () => {
  google = await startYouTubeEmulator({ app: APP, users: USERS });
  google.allowRedirectUri(CALLBACK);
  const origins = Object.fromEntries(YOUTUBE_ORIGINS.map((o) => [o, google.origin]));
  const upstream = new UpstreamClient(origins, 15000, { http: new OutboundHttp(new HostResolver(), true) });
  adapter = createYouTubeAdapter({ upstream, versions: { linkedin: '202601', metaGraph: 'v23.0' } });
  publishing = adapter.publishing!;
});
afterAll(async () => {
  await google?.close();
});
beforeEach(() => {
  Object.assign(google.youtube.state.settings, {
    insertsPerDay: 100,
    insertsToday: 0,
    unitsPerDay: 10_000,
    unitsUsed: 0,
    channelUploadLimit: Number.POSITIVE_INFINITY,
    processing: { polls: 1, outcome: { uploadStatus: 'processed' } },
    restrictUnverifiedProject: false,
    thumbnailsAllowed: true,
  });
});

/** A token of the user's, through Google's consent screen and token endpoint as any client gets one. */
async function tokenFor(userId: string, scopes = ALL_SCOPES): Promise<string> {
  google.signIn(userId);
  const url = new URL(`${google.origin}/o/oauth2/v2/auth`);
  url.search = new URLSearchParams({ client_id: APP.clientId, redirect_uri: CALLBACK, response_type: 'code', scope: scopes.join(' '), access_type: 'offline', prompt: 'consent' }).toString();
  const consent = await fetch(url, { redirect: 'manual' });
  const code = new URL(consent.headers.get('location')!).searchParams.get('code')!;
  const res = await fetch(`${google.origin}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: APP.clientId, client_secret: APP.clientSecret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** What the engine does for one target, with what it was told kept for the test to look at. */
class Target {
  saved: SavedProgress = {};
  beforeCreateCalls: SavedProgress[] = [];
  readonly parts: PublishedPart[] = [];
  constructor(
    readonly name: string,
    readonly token: string,
    readonly options: Record<string, unknown> = { title: 'A video', privacyStatus: 'public' },
  ) {}

  static async of(name: string, options?: Record<string, unknown>, scopes?: string[]) {
    return new Target(name, await tokenFor(`g-${name}`, scopes), options);
  }

  input(container: PublishContainer, index = this.parts.length): PartInput {
    return {
      app: { clientId: APP.clientId, clientSecret: APP.clientSecret, scopes: [], options: {} },
      accessToken: this.token,
      account: { networkUniqueId: channelOf(this.name), username: this.name, accountType: 'channel', metadata: {} },
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

  /** Calls again (without waiting) while YouTube processes, as the engine would after checkAfterSeconds. */
  async publish(container: PublishContainer): Promise<{ part: PublishedPart; calls: PartOutcome[] }> {
    const calls: PartOutcome[] = [];
    for (;;) {
      const outcome = await this.publishOnce(container);
      calls.push(outcome);
      if (outcome.status === 'published') return { part: outcome.part, calls };
      if (calls.length > 10) throw new Error('still processing');
    }
  }

  context() {
    const { container: _c, root: _r, previous: _p, saved: _s, beforeCreate: _b, save: _v, ...ctx } = this.input(container(''));
    return ctx;
  }
}

const container = (text: string, media: PublishMedia[] = [], index = 0): PublishContainer => ({ index, text, media });
const video = (bytes = 1 * MiB, facts: { width?: number; height?: number; durationSeconds?: number } = {}) => {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 4096) data.writeUInt32BE(i, i);
  return mediaFromBytes(data, { kind: 'video', contentType: 'video/mp4', width: facts.width ?? 1920, height: facts.height ?? 1080, durationSeconds: facts.durationSeconds ?? 300 });
};
const thumbnail = (bytes = 40 * KiB) => mediaFromBytes(makeJpeg(1280, 720, { padTo: bytes }), { kind: 'image', contentType: 'image/jpeg', width: 1280, height: 720 });

async function bytesOf(media: PublishMedia): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await media.open()) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function failure(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

/** Calls of a method on the emulator since `from`. */
const callsSince = (from: number, method: string, path: string) => google.state.calls.slice(from).filter((c) => c.method === method && c.path === path);

describe('uploading a video', () => {
  it('starts a resumable session with the metadata, sends 8 MiB chunks, waits for processing and answers the watch URL', async () => {
    const ada = await Target.of('ada', {
      title: 'Bridge opening',
      privacyStatus: 'unlisted',
      categoryId: '22',
      tags: ['bridge', 'city life'],
      selfDeclaredMadeForKids: false,
      containsSyntheticMedia: false,
      notifySubscribers: false,
    });
    const file = video(17 * MiB + 12_345);
    const from = google.state.calls.length;
    const { part, calls } = await ada.publish(container('Our new bridge opens today.', [file]));

    // Upload, then one look while still processing, then processed.
    expect(calls.map((c) => c.status)).toEqual(['processing', 'processing', 'published']);
    expect(calls[0]).toMatchObject({ checkAfterSeconds: 5 });
    const stored = google.youtube.videoOf(part.id)!;
    expect(stored.bytes.equals(await bytesOf(file))).toBe(true);
    expect(stored.snippet).toMatchObject({ title: 'Bridge opening', description: 'Our new bridge opens today.', tags: ['bridge', 'city life'], categoryId: '22' });
    expect(stored.status).toMatchObject({ privacyStatus: 'unlisted', selfDeclaredMadeForKids: false, containsSyntheticMedia: false, uploadStatus: 'processed' });
    expect(stored.notifySubscribers).toBe(false);
    expect(part).toEqual({ id: stored.id, url: `https://www.youtube.com/watch?v=${stored.id}`, data: { kind: 'video', privacyStatus: 'unlisted' } });

    const [start] = callsSince(from, 'POST', '/upload/youtube/v3/videos');
    expect(start.query).toEqual({ uploadType: 'resumable', part: 'snippet,status', notifySubscribers: 'false' });
    expect(start.authorization).toBe(`Bearer ${ada.token}`);
    // 17 MiB and a bit in three chunks: 8 MiB, 8 MiB, the rest.
    expect(callsSince(from, 'PUT', '/upload/youtube/v3/videos')).toHaveLength(3);
    // The last chunk was announced to the engine with the session it can be settled by.
    expect(ada.beforeCreateCalls).toHaveLength(1);
    expect(String((ada.beforeCreateCalls[0].session as { uri: string }).uri)).toMatch(/^https:\/\/www\.googleapis\.com\/upload\/youtube\/v3\/videos\?.*upload_id=/);
  });

  it('a cut upload resumes where the session says it is, instead of starting again', async () => {
    const ben = await Target.of('ben');
    const file = video(10 * MiB);
    google.youtube.faultNextChunk({ kind: 'cut', keep: 3 * MiB + 100 });
    const sessionsBefore = google.youtube.sessions().length;
    await expect(publishing.publishPart(ben.input(container('Cut', [file])))).rejects.toThrow();
    // The session was kept with save, holding what YouTube kept: 3 MiB (a multiple of 256 KiB).
    expect(ben.saved.session).toBeTruthy();
    expect(google.youtube.sessions().at(-1)).toMatchObject({ received: 3 * MiB, complete: false });

    const { part } = await ben.publish(container('Cut', [file]));
    expect(google.youtube.sessions()).toHaveLength(sessionsBefore + 1);
    expect(google.youtube.videoOf(part.id)!.bytes.equals(await bytesOf(file))).toBe(true);
  });

  it('starts a new session when the saved one is gone', async () => {
    const cleo = await Target.of('cleo');
    const file = video(9 * MiB);
    google.youtube.faultNextChunk({ kind: 'cut', keep: 1 * MiB });
    await expect(publishing.publishPart(cleo.input(container('Expired', [file])))).rejects.toThrow();
    const sessionsBefore = google.youtube.sessions().length;
    google.youtube.expireSessions();
    const { part } = await cleo.publish(container('Expired', [file]));
    expect(google.youtube.sessions()).toHaveLength(sessionsBefore + 1);
    expect(google.youtube.videoOf(part.id)!.bytes.equals(await bytesOf(file))).toBe(true);
  });

  it('sets the image of the post as the custom thumbnail once the video is processed', async () => {
    const dora = await Target.of('dora');
    const image = thumbnail();
    const { part } = await dora.publish(container('With a thumbnail', [video(), image]));
    expect(google.youtube.videoOf(part.id)!.thumbnail).toEqual({ contentType: 'image/jpeg', size: image.size });
    expect(part.data).toEqual({ kind: 'video', privacyStatus: 'public' });
  });

  it('a refused thumbnail does not undo the video: the part says why, in YouTube’s words', async () => {
    const eli = await Target.of('eli');
    google.youtube.state.settings.thumbnailsAllowed = false;
    const { part } = await eli.publish(container('Unverified channel', [video(), thumbnail()]));
    expect(google.youtube.videoOf(part.id)!.thumbnail).toBeUndefined();
    expect(part.data?.thumbnailNote).toBe("YouTube did not set the thumbnail: The authenticated user doesn't have permissions to upload and set custom video thumbnails.");
  });

  it('a Short: #Shorts added to the description, and the /shorts/ URL', async () => {
    const fay = await Target.of('fay', { title: 'Sixty seconds of rain', privacyStatus: 'public', short: true });
    const { part } = await fay.publish(container('Rain on the window', [video(2 * MiB, { width: 1080, height: 1920, durationSeconds: 60 })]));
    expect(google.youtube.videoOf(part.id)!.snippet.description).toBe('Rain on the window\n\n#Shorts');
    expect(part.url).toBe(`https://www.youtube.com/shorts/${part.id}`);
  });

  it('a scheduled video: private with publishAt, as YouTube documents', async () => {
    const publishAt = new Date(Date.now() + 3 * 86400_000).toISOString();
    const gus = await Target.of('gus', { title: 'Premiere', privacyStatus: 'private', publishAt });
    const { part } = await gus.publish(container('Out on Friday', [video()]));
    expect(google.youtube.videoOf(part.id)!.status).toMatchObject({ privacyStatus: 'private', publishAt });
    expect(part.data).toMatchObject({ privacyStatus: 'private', publishAt });
  });

  it('without a title option, the first line of the text is the title; without privacyStatus, YouTube’s default', async () => {
    const hal = await Target.of('hal', {});
    const { part } = await hal.publish(container('Harbour timelapse\nShot over a whole day.', [video()]));
    expect(google.youtube.videoOf(part.id)!.snippet.title).toBe('Harbour timelapse');
    expect(google.youtube.videoOf(part.id)!.status.privacyStatus).toBe('public');
  });

  it('says so in plain words when YouTube made the video private against what was asked', async () => {
    const ivy = await Target.of('ivy');
    google.youtube.state.settings.restrictUnverifiedProject = true;
    const { part } = await ivy.publish(container('Locked', [video()]));
    expect(part.data?.privacyStatus).toBe('private');
    expect(String(part.data?.privacyNote)).toMatch(/^YouTube made the video private, not public as asked: .*unverified API projects/);
  });
});

describe('playlists', () => {
  it('adds the processed video to the chosen playlist of the channel', async () => {
    const playlist = google.youtube.addPlaylist(channelOf('gus'), 'Bridges');
    const gus = await Target.of('gus', { title: 'In a playlist', privacyStatus: 'public', playlistId: playlist.id });
    const { part } = await gus.publish(container('Playlist', [video()]));
    expect(playlist.videoIds).toEqual([part.id]);
    expect(part.data).toMatchObject({ playlistId: playlist.id });
  });

  it('another channel’s playlist: refused at preflight; at publishing the video stays and the part says why', async () => {
    const theirs = google.youtube.addPlaylist(channelOf('ada'), 'Ada’s');
    const hal = await Target.of('hal', { title: 'Wrong playlist', privacyStatus: 'public', playlistId: theirs.id });
    expect(await publishing.checkAtNetwork!({ ...hal.context(), containers: [container('', [video()])] })).toEqual([
      `The playlist ${theirs.id} is not one of this channel's: choose one from the account's publishing options.`,
    ]);
    const { part } = await hal.publish(container('Wrong playlist', [video()]));
    expect(google.youtube.videoOf(part.id)!.status.uploadStatus).toBe('processed');
    expect(theirs.videoIds).toEqual([]);
    expect(String(part.data?.playlistNote)).toMatch(/^YouTube did not add the video to the playlist .*: The request is not properly authorized/);
  });
});

describe('processing outcomes', () => {
  it.each([
    [{ uploadStatus: 'rejected', rejectionReason: 'duplicate' }, 'duplicate', 'duplicate', /already has this video/],
    [{ uploadStatus: 'rejected', rejectionReason: 'copyright' }, 'user_content', 'copyright', /copyright/],
    [{ uploadStatus: 'rejected', rejectionReason: 'uploaderAccountSuspended' }, 'platform_rejected', 'uploaderAccountSuspended', /suspended/],
    [{ uploadStatus: 'failed', failureReason: 'codec' }, 'user_content', 'codec', /codec/],
    [{ uploadStatus: 'failed', failureReason: 'uploadAborted' }, 'platform_error', 'uploadAborted', /uploaded again/],
  ] as const)('%o → %s', async (outcome, category, code, words) => {
    const jo = await Target.of('jo');
    google.youtube.state.settings.processing = { polls: 0, outcome: outcome as never };
    expect((await jo.publishOnce(container('Processing', [video()]))).status).toBe('processing');
    const err = await failure(jo.publishOnce(container('Processing', [video()])));
    expect(err.category).toBe(category);
    expect(err.platformCode).toBe(code);
    expect(err.message).toMatch(words);
  });

  it('an aborted upload is uploaded again on the next attempt', async () => {
    const kai = await Target.of('kai');
    google.youtube.state.settings.processing = { polls: 0, outcome: { uploadStatus: 'failed', failureReason: 'uploadAborted' } };
    const input = kai.input(container('Again', [video()]));
    const first = await publishing.publishPart(input);
    kai.saved = (first as { saved: SavedProgress }).saved;
    await failure(publishing.publishPart(kai.input(container('Again', [video()]))));
    expect(kai.saved).toEqual({});
    google.youtube.state.settings.processing = { polls: 0, outcome: { uploadStatus: 'processed' } };
    const { part } = await kai.publish(container('Again', [video()]));
    expect(google.youtube.videoOf(part.id)!.status.uploadStatus).toBe('processed');
  });
});

describe('comments (later containers)', () => {
  it('comments under the video as the channel, and deletes both at YouTube', async () => {
    const lea = await Target.of('lea');
    const { part: videoPart } = await lea.publish(container('The video', [video()]));
    const { part: commentPart } = await lea.publish(container('Chapters: 0:00 intro, 1:10 the bridge', [], 1));
    const comment = google.youtube.state.comments.get(commentPart.id)!;
    expect(comment).toMatchObject({ videoId: videoPart.id, channelId: channelOf('lea'), textOriginal: 'Chapters: 0:00 intro, 1:10 the bridge' });
    expect(commentPart.url).toBe(`https://www.youtube.com/watch?v=${videoPart.id}&lc=${comment.id}`);

    await publishing.deletePart!({ ...lea.context(), part: commentPart });
    expect(google.youtube.state.comments.get(commentPart.id)!.deleted).toBe(true);
    await publishing.deletePart!({ ...lea.context(), part: videoPart });
    expect(google.youtube.videoOf(videoPart.id)!.deleted).toBe(true);
    // Already gone at YouTube: what was asked for is true.
    await publishing.deletePart!({ ...lea.context(), part: videoPart });
  });

  it('finds a comment whose answer was lost, and says absent when there is none', async () => {
    const max = await Target.of('max');
    await max.publish(container('Video for comments', [video()]));
    const text = `Lost answer ${Date.now()}`;
    const created = await publishing.publishPart(max.input(container(text, [], 1)));
    expect(created.status).toBe('published');
    const found = await publishing.findPart!(max.input(container(text, [], 1)));
    expect(found).toEqual((created as { part: PublishedPart }).part);
    expect(await publishing.findPart!({ ...max.input(container('Never sent', [], 1)), saved: { createStartedAt: new Date().toISOString() } })).toBe('absent');
  });

  it('without youtube.force-ssl a comment is a missing permission naming the scope', async () => {
    const ada = await Target.of('ada', undefined, ['youtube.upload', 'youtube.readonly'].map(SCOPE));
    ada.parts.push({ id: 'whatever', url: null });
    const err = await failure(publishing.publishPart(ada.input(container('No scope', [], 1))));
    expect(err.category).toBe('permission_missing');
    expect(err.message).toContain('youtube.force-ssl');
  });

  it('a private video refuses comments: YouTube’s forbidden, said plainly', async () => {
    const ivy = await Target.of('ivy', { title: 'Private', privacyStatus: 'private' });
    await ivy.publish(container('Private', [video()]));
    const err = await failure(publishing.publishPart(ivy.input(container('A comment', [], 1))));
    expect(err).toMatchObject({ category: 'platform_rejected', platformCode: 'forbidden' });
    expect(err.message).toMatch(/^YouTube refused the comment: the video is private or its comments are turned off/);
  });

  it('a video made for kids takes no comments: YouTube’s commentsDisabled', async () => {
    const ben = await Target.of('ben', { title: 'For kids', privacyStatus: 'public', selfDeclaredMadeForKids: true });
    await ben.publish(container('Kids', [video()]));
    const err = await failure(publishing.publishPart(ben.input(container('A comment', [], 1))));
    expect(err).toMatchObject({ category: 'platform_rejected', platformCode: 'commentsDisabled' });
  });
});

describe('reconciliation of the last chunk', () => {
  it('an answer lost on the last chunk is settled by asking the session: the video is found, and processing goes on', async () => {
    const cleo = await Target.of('cleo');
    const file = video(3 * MiB);
    google.youtube.faultNextChunk({ kind: 'lose-answer' });
    await expect(publishing.publishPart(cleo.input(container('Lost', [file])))).rejects.toThrow();
    const found = await publishing.findPart!(cleo.input(container('Lost', [file])));
    // Made, but not yet processed: the engine polls it rather than calling it published.
    expect(found).toMatchObject({ status: 'processing', saved: { videoId: expect.any(String) } });
    const videoId = String((found as FoundProcessing).saved.videoId);
    expect(google.youtube.videoOf(videoId)!.bytes.equals(await bytesOf(file))).toBe(true);
    cleo.saved = (found as FoundProcessing).saved;
    const videos = google.youtube.sessions().length;
    const { part } = await cleo.publish(container('Lost', [file]));
    expect(part.id).toBe(videoId);
    expect(part.url).toBe(`https://www.youtube.com/watch?v=${videoId}`);
    expect(google.youtube.sessions()).toHaveLength(videos);
  });

  it('a last chunk cut short made no video: absent, and publishing goes on in the same session', async () => {
    const dora = await Target.of('dora');
    const file = video(2 * MiB);
    google.youtube.faultNextChunk({ kind: 'cut', keep: 1 * MiB });
    await expect(publishing.publishPart(dora.input(container('Short last chunk', [file])))).rejects.toThrow();
    expect(await publishing.findPart!(dora.input(container('Short last chunk', [file])))).toBe('absent');
    const sessions = google.youtube.sessions().length;
    const { part } = await dora.publish(container('Short last chunk', [file]));
    expect(google.youtube.sessions()).toHaveLength(sessions);
    expect(google.youtube.videoOf(part.id)!.bytes.equals(await bytesOf(file))).toBe(true);
  });

  it('a session that is gone cannot tell: unknown', async () => {
    const eli = await Target.of('eli');
    const file = video(2 * MiB);
    google.youtube.faultNextChunk({ kind: 'lose-answer' });
    await expect(publishing.publishPart(eli.input(container('Gone', [file])))).rejects.toThrow();
    google.youtube.expireSessions();
    expect(await publishing.findPart!(eli.input(container('Gone', [file])))).toBe('unknown');
  });
});

describe('errors, classified', () => {
  it.each([
    ['quotaExceeded', youTubeFailures.quotaExceeded(), 'quota_exhausted'],
    ['rateLimitExceeded', youTubeFailures.rateLimited(), 'rate_limited'],
    ['authError', youTubeFailures.unauthenticated(), 'auth_expired'],
    ['youtubeSignupRequired', youTubeFailures.signupRequired(), 'platform_rejected'],
    ['forbidden', youTubeFailures.forbidden(), 'permission_missing'],
    ['accessNotConfigured', youTubeFailures.accessNotConfigured(), 'app_not_approved'],
    ['authenticatedUserAccountSuspended', youTubeFailures.accountSuspended(), 'platform_rejected'],
    ['forbiddenPrivacySetting', youTubeFailures.forbiddenPrivacySetting(), 'user_content'],
    ['backendError', youTubeFailures.serverError(), 'platform_error'],
  ] as const)('%s → %s', async (reason, answer, category) => {
    const fay = await Target.of('fay');
    google.youtube.failNext('insert', answer);
    const err = await failure(publishing.publishPart(fay.input(container('Refused', [video(300 * KiB)]))));
    expect(err.category).toBe(category);
    expect(err.platformCode).toBe(reason);
    expect(err.message).not.toMatch(/<a /);
  });

  it('quotaExceeded: quota exhausted until the daily reset at midnight Pacific, with the seconds until then', async () => {
    const gus = await Target.of('gus');
    google.youtube.state.settings.insertsToday = 100;
    const err = await failure(publishing.publishPart(gus.input(container('Over quota', [video(300 * KiB)]))));
    expect(err.category).toBe('quota_exhausted');
    expect(err.message).toMatch(/quota .* exhausted; retry after the daily reset \(midnight Pacific time\)/);
    const pacific = new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23' }).formatToParts(new Date());
    const [h, m, s] = ['hour', 'minute', 'second'].map((t) => Number(pacific.find((p) => p.type === t)!.value));
    expect(Math.abs(err.retryAfterSeconds! - (86400 - (h * 3600 + m * 60 + s)))).toBeLessThanOrEqual(5);
  });

  it('the shared 10,000 units spent while watching processing: quota exhausted too', async () => {
    const hal = await Target.of('hal');
    expect((await hal.publishOnce(container('Units', [video(300 * KiB)]))).status).toBe('processing');
    google.youtube.state.settings.unitsUsed = 10_000;
    expect((await failure(hal.publishOnce(container('Units', [video(300 * KiB)])))).category).toBe('quota_exhausted');
  });

  it('uploadLimitExceeded: the channel’s own cap, quota exhausted', async () => {
    const ivy = await Target.of('ivy');
    google.youtube.state.settings.channelUploadLimit = 0;
    const err = await failure(publishing.publishPart(ivy.input(container('Cap', [video(300 * KiB)]))));
    expect(err).toMatchObject({ category: 'quota_exhausted', platformCode: 'uploadLimitExceeded' });
    expect(err.message).toMatch(/own limit of uploads/);
  });

  it('a Google account without a channel: youtubeSignupRequired is not a dead token', async () => {
    const none = new Target('none', await tokenFor('g-none'));
    const err = await failure(publishing.publishPart(none.input(container('No channel', [video(300 * KiB)]))));
    expect(err).toMatchObject({ category: 'platform_rejected', platformCode: 'youtubeSignupRequired' });
    expect(err.message).toMatch(/no YouTube channel: create one/);
  });

  it.each([
    [{ title: 'Bad <title>', privacyStatus: 'public' }, 'invalidTitle'],
    [{ title: 'Category', privacyStatus: 'public', categoryId: '999' }, 'invalidCategoryId'],
    [{ title: 'Tags', privacyStatus: 'public', tags: ['x'.repeat(501)] }, 'invalidTags'],
    [{ title: 'Scheduled', privacyStatus: 'public', publishAt: new Date(Date.now() + 86400_000).toISOString() }, 'invalidPublishAt'],
  ])('YouTube refusing the metadata %o: %s → the content', async (options, reason) => {
    const jo = await Target.of('jo', options);
    const err = await failure(publishing.publishPart(jo.input(container('Metadata', [video(300 * KiB)]))));
    expect(err).toMatchObject({ category: 'user_content', platformCode: reason });
  });

  it('a description over 5,000 bytes: invalidDescription → the content', async () => {
    const kai = await Target.of('kai');
    const err = await failure(publishing.publishPart(kai.input(container('é'.repeat(2600), [video(300 * KiB)]))));
    expect(err).toMatchObject({ category: 'user_content', platformCode: 'invalidDescription' });
  });

  it('deleting without a scope that may delete: a missing permission', async () => {
    const lea = await Target.of('lea');
    const { part } = await lea.publish(container('Keep', [video(300 * KiB)]));
    const uploadOnly = await tokenFor('g-lea', ['youtube.upload', 'youtube.readonly'].map(SCOPE));
    const err = await failure(publishing.deletePart!({ ...lea.context(), accessToken: uploadOnly, part }));
    expect(err).toMatchObject({ category: 'permission_missing', platformCode: 'insufficientPermissions' });
  });
});

describe('preflight', () => {
  const check = (options: Record<string, unknown>, containers: PublishContainer[]) =>
    publishing.check!({ containers, options, account: { networkUniqueId: channelOf('ada'), username: 'ada', accountType: 'channel', metadata: {} } });

  it('refuses in plain words what YouTube would refuse', () => {
    const v = video(1 * MiB, { width: 1920, height: 1080, durationSeconds: 240 });
    expect(check({ title: 'x'.repeat(101), privacyStatus: 'public' }, [container('', [v])])).toEqual(['A YouTube title is at most 100 characters (this one has 101).']);
    expect(check({ title: 'ok', privacyStatus: 'public' }, [container('<b>', [v])])).toEqual(['A YouTube description cannot contain < or >.']);
    expect(check({ title: 'ok', privacyStatus: 'public' }, [container('é'.repeat(2501), [v])])).toEqual(['A YouTube description is at most 5,000 bytes of UTF-8 (this one has 5002).']);
    expect(check({ title: 'ok', privacyStatus: 'public', tags: ['a b'.repeat(100), 'c'.repeat(200)] }, [container('', [v])])[0]).toMatch(/tags are at most 500 characters .* \(these have 503\)/);
    expect(check({ title: 'ok', privacyStatus: 'public', publishAt: new Date(Date.now() + 86400_000).toISOString() }, [container('', [v])])).toEqual([
      'A scheduled YouTube video (publishAt) must have privacyStatus "private" until it goes public.',
    ]);
    expect(check({ title: 'ok', privacyStatus: 'public', short: true }, [container('', [v])])).toEqual([
      'A YouTube Short is at most 3 minutes long (file.mp4 lasts 240 seconds).',
      'A YouTube Short is square or vertical (file.mp4 is 1920×1080).',
    ]);
    expect(check({ title: 'ok', privacyStatus: 'private' }, [container('', [v]), container('A comment', [], 1)])[0]).toMatch(/A private YouTube video cannot be commented on/);
    expect(check({ title: 'ok', privacyStatus: 'public', selfDeclaredMadeForKids: true }, [container('', [v]), container('A comment', [], 1)])[0]).toMatch(/Comments are turned off on YouTube videos made for kids/);
    expect(check({}, [container('', [v])])).toEqual(['A YouTube video needs a title: set youtube.title, or give the post a text whose first line becomes the title.']);
    expect(check({ title: 'ok', privacyStatus: 'public' }, [container('Fine', [v]), container('A comment', [], 1)])).toEqual([]);
  });

  it('asks the channel: a long video before verification, and a category that cannot be given', async () => {
    const cleo = await Target.of('cleo', { title: 'Long', privacyStatus: 'public', categoryId: '18' });
    const problems = await publishing.checkAtNetwork!({ ...cleo.context(), containers: [container('', [video(1 * MiB, { durationSeconds: 20 * 60 })])] });
    expect(problems).toEqual([
      'This YouTube channel can upload videos of at most 15 minutes until it is verified (its long uploads are "eligible"); the video lasts 20 minutes. Verify the channel at https://www.youtube.com/verify.',
      'The YouTube category "Short Movies" cannot be given to a video: choose another.',
    ]);
    const ada = await Target.of('ada', { title: 'Fine', privacyStatus: 'public', categoryId: '999' });
    expect(await publishing.checkAtNetwork!({ ...ada.context(), containers: [container('', [video(1 * MiB, { durationSeconds: 20 * 60 })])] })).toEqual([
      'YouTube has no video category 999: choose one from the account\'s publishing options.',
    ]);
  });
});

describe('account data', () => {
  it('metrics: the channel’s subscribers, videos and views; a hidden subscriber count is null', async () => {
    const ada = await Target.of('ada');
    const since = new Date(Date.now() - 86400_000);
    expect(await adapter.metrics!.read({ ...ada.context(), since, until: new Date() })).toEqual({
      followersCount: 4200,
      followingCount: null,
      postsCount: 37,
      engagement: null,
      platformSpecific: { viewCount: 120345, hiddenSubscriberCount: false },
    });
    const ben = await Target.of('ben');
    expect((await adapter.metrics!.read({ ...ben.context(), since, until: new Date() })).followersCount).toBeNull();
  });

  it('publishing options: the assignable categories of the channel’s country, privacy statuses, long uploads', async () => {
    const ben = await Target.of('ben');
    const travel = google.youtube.addPlaylist(channelOf('ben'), 'Travel', 'unlisted');
    google.youtube.addPlaylist(channelOf('ada'), 'Not ben’s');
    const from = google.state.calls.length;
    const options = await publishing.describeOptions!(ben.context());
    expect(options).toEqual({
      regionCode: 'DE',
      categories: [
        { id: '1', title: 'Film & Animation' },
        { id: '10', title: 'Music' },
        { id: '22', title: 'People & Blogs' },
        { id: '28', title: 'Science & Technology' },
      ],
      privacyStatuses: ['private', 'unlisted', 'public'],
      playlists: [{ id: travel.id, title: 'Travel', privacyStatus: 'unlisted' }],
      longUploadsStatus: 'allowed',
      channelMadeForKids: false,
    });
    expect(callsSince(from, 'GET', '/youtube/v3/videoCategories')[0].query).toEqual({ part: 'snippet', regionCode: 'DE' });
  });
});

describe('through our API', () => {
  let t: TestServer;
  let accountId: string;
  let files: Server;
  let filesOrigin: string;
  const fixtures = new Map<string, Buffer>();

  beforeAll(async () => {
    files = createServer((req, res) => {
      const body = fixtures.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': req.url!.endsWith('.jpg') ? 'image/jpeg' : 'video/mp4', 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    fixtures.set('/landscape.mp4', makeMp4({ width: 640, height: 360, durationSeconds: 4 }));
    fixtures.set('/vertical.mp4', makeMp4({ width: 360, height: 640, durationSeconds: 4 }));
    fixtures.set('/wide-short.mp4', makeMp4({ width: 640, height: 360, durationSeconds: 3 }));
    fixtures.set('/thumb.jpg', makeJpeg(1280, 720));

    const upstreams = Object.fromEntries(YOUTUBE_ORIGINS.map((o) => [o, google.origin]));
    t = await startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(upstreams), SWITCHBOARD_ALLOW_PRIVATE_URLS: 'true' }, { worker: true });
    google.allowRedirectUri(`${t.url}/oauth/youtube/callback`);
    await configureNetwork(t, 'youtube', { client_key: APP.clientId, client_secret: APP.clientSecret });
    google.signIn('g-ada');
    const params = resultOf(await connectThroughBrowser(t, 'youtube', { tenant_id: 'tenant-ada' }));
    expect(params.get('status'), params.toString()).toBe('success');
    accountId = params.get('account_id')!;
  });
  beforeEach(() => {
    google.youtube.state.settings.processing = { polls: 0, outcome: { uploadStatus: 'processed' } };
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => files?.close(resolve));
  });

  const settled = (id: string) => settledPost(t, id);

  it('publishes a video with its thumbnail and a comment through POST /v1/posts, and deletes it at YouTube', async () => {
    const created = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'The harbour at dawn', media: [{ url: `${filesOrigin}/landscape.mp4` }, { url: `${filesOrigin}/thumb.jpg` }] }, { content: 'Filmed from the lighthouse' }],
      accounts: [accountId],
      youtube: { title: 'Harbour at dawn', privacyStatus: 'unlisted', categoryId: '22', tags: ['harbour'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await settled(created.body.post.id);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const [target] = post.socialAccounts;
    const stored = google.youtube.videoOf(target.platformPostId)!;
    expect(stored.snippet).toMatchObject({ title: 'Harbour at dawn', description: 'The harbour at dawn', tags: ['harbour'], categoryId: '22' });
    expect(stored.status.privacyStatus).toBe('unlisted');
    expect(stored.bytes.equals(fixtures.get('/landscape.mp4')!)).toBe(true);
    expect(stored.thumbnail?.contentType).toBe('image/jpeg');
    const comment = [...google.youtube.state.comments.values()].find((c) => c.videoId === stored.id)!;
    expect(comment.textOriginal).toBe('Filmed from the lighthouse');
    expect(target).toMatchObject({ status: 'published', platformPostUrl: `https://www.youtube.com/watch?v=${stored.id}`, platformPostIds: [stored.id, comment.id] });

    const removed = await t.api('DELETE', `/v1/posts/${post.id}/remote`);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(google.youtube.videoOf(stored.id)!.deleted).toBe(true);
  });

  it('publishes a Short through the Ocoya surface (POST /api/_public/v1/post), its title the caption’s first line', async () => {
    const ws = (await t.api('GET', '/v1/workspaces')).body.data[0].id;
    const caption = `Rain on the window ${Date.now()}\n#Shorts`;
    const res = await fetch(`${t.url}/api/_public/v1/post?workspaceId=${ws}`, {
      method: 'POST',
      headers: { 'x-api-key': t.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ caption, mediaUrls: [`${filesOrigin}/vertical.mp4`], socialProfileIds: [accountId], scheduledAt: new Date().toISOString() }),
    });
    const body = (await res.json()) as { postGroupId: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    const post = await settled(body.postGroupId);
    expect(post.status, JSON.stringify(post)).toBe('published');
    const stored = google.youtube.videoOf(post.socialAccounts[0].platformPostId)!;
    expect(stored.snippet.title).toBe(caption.split('\n')[0]);
    expect(post.socialAccounts[0].platformPostUrl).toBe(`https://www.youtube.com/shorts/${stored.id}`);
  });

  it('waits for the daily reset, in YouTube’s words, when the quota is spent, then uploads', async () => {
    google.youtube.state.settings.insertsToday = google.youtube.state.settings.insertsPerDay;
    try {
      const created = await t.api('POST', '/v1/posts', { content: 'Over quota', containers: undefined, accounts: [accountId], youtube: { title: 'Quota', privacyStatus: 'public' } });
      expect(created.status).toBe(400);
      const withVideo = await t.api('POST', '/v1/posts', {
        containers: [{ content: 'Over quota', media: [{ url: `${filesOrigin}/landscape.mp4` }] }],
        accounts: [accountId],
        youtube: { title: 'Quota', privacyStatus: 'public' },
      });
      expect(withVideo.status, JSON.stringify(withVideo.body)).toBe(201);
      // Not failed: tried again at the daily reset, in YouTube's words meanwhile.
      let target: typeof postTargets.$inferSelect | undefined;
      for (let i = 0; i < 300 && !target?.errorCategory; i++) {
        [target] = await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, withVideo.body.post.id));
        if (!target?.errorCategory) await new Promise((r) => setTimeout(r, 100));
      }
      expect(target).toMatchObject({ status: 'publishing', errorCategory: 'quota_exhausted', attempts: 1 });
      expect(target!.error).toMatch(/retry after the daily reset \(midnight Pacific time\)/);
      const wait = target!.dueAt!.getTime() - Date.now();
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(25 * 3600_000);
      // The reset comes: the upload goes out.
      google.youtube.state.settings.insertsToday = 0;
      await t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.id, target!.id));
      const post = await settled(withVideo.body.post.id);
      expect(post.socialAccounts[0]).toMatchObject({ status: 'published', attempts: 2 });
    } finally {
      google.youtube.state.settings.insertsToday = 0;
    }
  });

  it('refuses at preflight, naming the account in plain words, what YouTube cannot take', async () => {
    const noVideo = await t.api('POST', '/v1/posts', { content: 'Only words', accounts: [accountId], youtube: { title: 'Words', privacyStatus: 'public' } });
    expect(noVideo.status).toBe(400);
    expect(noVideo.body.details.accounts[accountId]._errors.join(' ')).toMatch(/video/i);
    const wideShort = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'Wide', media: [{ url: `${filesOrigin}/wide-short.mp4` }] }],
      accounts: [accountId],
      youtube: { title: 'Wide', privacyStatus: 'public', short: true },
    });
    expect(wideShort.status).toBe(400);
    expect(wideShort.body.details.accounts[accountId]._errors).toContain('A YouTube Short is square or vertical (wide-short.mp4 is 640×360).');
  });

  it('answers the channel’s metrics and publishing options', async () => {
    const metrics = await t.api('GET', `/v1/social-accounts/${accountId}/metrics`);
    expect(metrics.status, JSON.stringify(metrics.body)).toBe(200);
    expect(JSON.stringify(metrics.body)).toContain('4200');
    const options = await t.api('GET', `/v1/social-accounts/${accountId}/publishing-options`);
    expect(options.status, JSON.stringify(options.body)).toBe(200);
    expect(JSON.stringify(options.body)).toContain('People & Blogs');
  });

  it('calls the Data API directly through the proxy with the channel’s token', async () => {
    const from = google.state.calls.length;
    const res = await t.api('GET', `/v1/social-accounts/${accountId}/proxy/youtube/v3/channels?part=id&mine=true`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.items[0].id).toBe(channelOf('ada'));
    const call = callsSince(from, 'GET', '/youtube/v3/channels')[0];
    expect(call.authorization).toMatch(/^Bearer ya29\./);
  });
});
