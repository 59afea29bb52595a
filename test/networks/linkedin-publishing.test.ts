// LinkedIn publishing: the real adapter against the LinkedIn emulator, through the one upstream client and its origin
// map (api.linkedin.com and the upload host www.linkedin.com). Accounts are what the adapter's own connection side
// makes of a member's token (member mode, and organization mode with the Pages the member administers). The engine's
// part — beforeCreate, save — is played by the test, which records what it was given. The last block goes through
// our HTTP API instead: a connected account, POST /v1/posts, the engine's worker, GET /v1/posts/{id}.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postTargets } from '../../src/db/schema.ts';
import { publishDue } from '../../src/publishing/engine.ts';
import { createLinkedInAdapter } from '../../src/providers/linkedin/index.ts';
import { littleText, LINKEDIN_RULES } from '../../src/providers/linkedin/publishing.ts';
import {
  PublishError,
  type AppCredentials,
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
import { NetworkError } from '../../src/providers/types.ts';
import { UpstreamClient } from '../../src/providers/upstream.ts';
import { HostResolver } from '../../src/security/destinations.ts';
import { OutboundHttp } from '../../src/security/outbound-http.ts';
import { configureNetwork, connectThroughBrowser, resultOf, startServerFor } from '../helpers/network-flow.ts';
import { mediaFromBytes } from '../helpers/publish-media.ts';
import type { TestServer } from '../helpers/server.ts';
import { LINKEDIN_ORIGINS, linkedinFailures, SERVED_VERSIONS, shownLittleText, startLinkedInEmulator, type LinkedInEmulator } from '../emulators/linkedin.ts';

const VERSION = '202607';
const RESERVED = ['\\', '|', '{', '}', '@', '[', ']', '(', ')', '<', '>', '#', '*', '_', '~'];
const MEMBER_SCOPES = ['openid', 'profile', 'email', 'w_member_social'];
const COMMUNITY_MANAGEMENT_SCOPES = ['r_basicprofile', 'w_member_social', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'];
const MEMBER_APP: AppCredentials = { clientId: 'li-member-app', clientSecret: 'secret', scopes: [], options: {} };
const ORGANIZATION_APP: AppCredentials = { clientId: 'li-cm-app', clientSecret: 'secret', scopes: [], options: { organizations: true } };
/** Small parts, so that a small video still goes up in several byte ranges. */
const VIDEO_PART_BYTES = 64 * 1024;

let li: LinkedInEmulator;
let adapter: NetworkAdapter;
let publishing: NetworkPublishing;

beforeAll(async () => {
  li = await startLinkedInEmulator({
    app: { clientId: 'li-cm-app', clientSecret: 'secret', scopes: [...MEMBER_SCOPES, ...COMMUNITY_MANAGEMENT_SCOPES, 'r_member_social'] },
    members: [
      {
        sub: 'Mia1a2b3c',
        name: 'Mia Moreau',
        vanityName: 'mia-moreau',
        email: 'mia@example.com',
        organizations: [
          { id: 1001, name: 'Moreau Studio', vanityName: 'moreau-studio' },
          { id: 1003, name: 'Analytics Only', vanityName: 'analytics-only', role: 'ANALYST' },
        ],
      },
      { sub: 'Noah4d5e6f', name: 'Noah Nakamura', email: 'noah@example.com' },
      { sub: 'Olga7g8h9i', name: 'Olga Orlova', email: 'olga@example.com' },
    ],
    videoPartBytes: VIDEO_PART_BYTES,
    videoProcessingChecks: 1,
  });
  const upstream = new UpstreamClient(Object.fromEntries(LINKEDIN_ORIGINS.map((origin) => [origin, li.origin])), 15_000, {
    http: new OutboundHttp(new HostResolver(), true),
  });
  adapter = createLinkedInAdapter({ upstream, versions: { linkedin: VERSION, metaGraph: 'v23.0' } });
  publishing = adapter.publishing!;
});
afterAll(async () => {
  await li?.close();
});

interface Connected {
  account: PublishAccount;
  accessToken: string;
  urn: string;
}

/** The member's own account, as the connection side makes it from a member-mode token. */
async function memberAccount(sub: string, scopes = MEMBER_SCOPES): Promise<Connected> {
  const accessToken = li.issueToken(sub, scopes);
  const [profile] = await adapter.fetchProfiles({ app: MEMBER_APP, tokens: { accessToken, expiresAt: null, scopes } });
  return { account: toAccount(profile), accessToken, urn: `urn:li:person:${sub}` };
}

/** An organization Page of the member, as organization mode offers it. */
async function organizationAccount(sub: string, organizationId: number, scopes = COMMUNITY_MANAGEMENT_SCOPES): Promise<Connected> {
  const accessToken = li.issueToken(sub, scopes);
  const profiles = await adapter.fetchProfiles({ app: ORGANIZATION_APP, tokens: { accessToken, expiresAt: null, scopes } });
  const profile = profiles.find((p) => p.networkUniqueId === String(organizationId));
  expect(profile, `organization ${organizationId} offered`).toBeDefined();
  return { account: toAccount(profile!), accessToken, urn: `urn:li:organization:${organizationId}` };
}

function toAccount(profile: { networkUniqueId: string; username: string | null; accountType: PublishAccount['accountType']; metadata?: Record<string, unknown> }): PublishAccount {
  return { networkUniqueId: profile.networkUniqueId, username: profile.username, accountType: profile.accountType, metadata: profile.metadata ?? {} };
}

interface Run {
  outcome: PartOutcome;
  /** What beforeCreate and save were given. */
  beforeCreate: SavedProgress[];
  saves: SavedProgress[];
  /** Live posts of the author when beforeCreate was called. */
  postsAtBeforeCreate: number[];
}

function input(who: Connected, container: Partial<PublishContainer>, more: Partial<PartInput> = {}, record?: Run): PartInput {
  return {
    app: MEMBER_APP,
    accessToken: who.accessToken,
    account: who.account,
    options: {},
    container: { index: 0, text: '', media: [], ...container },
    root: null,
    previous: null,
    saved: {},
    beforeCreate: async (saved) => {
      record?.beforeCreate.push(saved);
      record?.postsAtBeforeCreate.push(li.postsBy(who.urn).length);
    },
    save: async (saved) => {
      record?.saves.push(saved);
    },
    ...more,
  };
}

async function publish(who: Connected, container: Partial<PublishContainer>, more: Partial<PartInput> = {}): Promise<Run> {
  const run: Run = { outcome: undefined as unknown as PartOutcome, beforeCreate: [], saves: [], postsAtBeforeCreate: [] };
  run.outcome = await publishing.publishPart(input(who, container, more, run));
  return run;
}

function published(run: Run): PublishedPart {
  expect(run.outcome.status).toBe('published');
  return (run.outcome as Extract<PartOutcome, { status: 'published' }>).part;
}

async function refusal(promise: Promise<unknown>): Promise<PublishError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

const jpeg = (alt?: string, size = 4096): PublishMedia =>
  mediaFromBytes(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(size)]), { kind: 'image', contentType: 'image/jpeg', width: 1200, height: 800, alt });

const lastBody = (method: string, path: string) => [...li.state.restBodies].reverse().find((b) => b.method === method && b.path === path)?.body as Record<string, any>;

describe('text posts', () => {
  it('publishes a member post whose every reserved little-text character reaches LinkedIn escaped and is shown as written', async () => {
    const noah = await memberAccount('Noah4d5e6f');
    const text = `Every reserved one: ${RESERVED.join(' ')} — and the sentence goes on to its end.`;
    // Sent as written, LinkedIn would show only what comes before the first reserved character.
    expect(shownLittleText(text)).toBe('Every reserved one: ');

    const run = await publish(noah, { text });
    const part = published(run);

    expect(part.id).toMatch(/^urn:li:share:\d+$/);
    expect(part.url).toBe(`https://www.linkedin.com/feed/update/${part.id}`);
    const post = li.state.posts.get(part.id)!;
    expect(post.author).toBe('urn:li:person:Noah4d5e6f');
    expect(post.shown).toBe(text);
    for (const c of RESERVED) expect(post.commentary).toContain(`\\${c}`);
    expect(lastBody('POST', '/rest/posts')).toEqual({
      author: 'urn:li:person:Noah4d5e6f',
      commentary: littleText(text),
      visibility: 'PUBLIC',
      distribution: { feedDistribution: 'MAIN_FEED', targetEntities: [], thirdPartyDistributionChannels: [] },
      lifecycleState: 'PUBLISHED',
      isReshareDisabledByAuthor: false,
    });
    const call = [...li.state.calls].reverse().find((c) => c.method === 'POST' && c.path === '/rest/posts')!;
    expect(call.headers['linkedin-version']).toBe(VERSION);
    expect(call.headers['x-restli-protocol-version']).toBe('2.0.0');
    expect(call.headers.authorization).toBe(`Bearer ${noah.accessToken}`);
    // beforeCreate came once, right before the post existed, with what findPart needs.
    expect(run.postsAtBeforeCreate).toEqual([0]);
    expect(run.beforeCreate[0].pending).toMatchObject({ kind: 'post', author: 'urn:li:person:Noah4d5e6f', commentary: littleText(text) });
  });

  it('escapes each reserved character on its own, so none of them cuts a post short', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    for (const [i, c] of RESERVED.entries()) {
      const text = `Character ${i} is ${c} in the middle of a sentence.`;
      const part = published(await publish(olga, { text }));
      expect(li.state.posts.get(part.id)!.shown, `character ${c}`).toBe(text);
    }
  });

  it('describes LinkedIn for the proxy: its API origin and the version headers every call needs', () => {
    expect(adapter.api).toEqual({ origin: 'https://api.linkedin.com', headers: { 'LinkedIn-Version': VERSION, 'X-Restli-Protocol-Version': '2.0.0' } });
  });
});

describe('an organization post with two images and a comment', () => {
  it('uploads both images as the organization, posts them as a multiImage, then comments on the post as the organization', async () => {
    const studio = await organizationAccount('Mia1a2b3c', 1001);
    const images = [jpeg('A desk by the window'), jpeg('The same desk at night')];
    const run = await publish(studio, { text: 'Our new studio (finally) is open!', media: images });
    const root = published(run);

    const post = li.state.posts.get(root.id)!;
    expect(post.author).toBe('urn:li:organization:1001');
    expect(post.shown).toBe('Our new studio (finally) is open!');
    const sent = (post.content as any).multiImage.images as { id: string; altText: string }[];
    expect(sent.map((i) => i.altText)).toEqual(['A desk by the window', 'The same desk at night']);
    for (const [i, item] of sent.entries()) {
      const image = li.state.images.get(item.id)!;
      expect(image.owner).toBe('urn:li:organization:1001');
      expect(image.status).toBe('AVAILABLE');
      expect(Buffer.compare(image.bytes!, await bytesOf(images[i]))).toBe(0);
    }
    // The bytes went to the upload host, with the member's token as LinkedIn's examples send it.
    const uploads = li.state.uploads.slice(-2);
    expect(uploads.map((u) => u.authorization)).toEqual([`Bearer ${studio.accessToken}`, `Bearer ${studio.accessToken}`]);
    expect(uploads.map((u) => u.contentType)).toEqual(['image/jpeg', 'image/jpeg']);
    // Uploaded media were kept before the post, so a retry reuses them.
    expect(Object.values(run.saves.at(-1)!.media as Record<string, string>)).toEqual(sent.map((i) => i.id));

    const comment = published(
      await publish(studio, { index: 1, text: 'Opening hours (Mon–Fri) are on our page: #studio_life @everyone' }, { root, previous: root }),
    );
    expect(comment.id).toMatch(/^urn:li:comment:\(urn:li:activity:\d+,\d+\)$/);
    const stored = li.state.comments.get(comment.id)!;
    expect(stored.object).toBe(root.id);
    expect(stored.actor).toBe('urn:li:organization:1001');
    // Comments are plain text: nothing escaped, nothing cut.
    expect(stored.text).toBe('Opening hours (Mon–Fri) are on our page: #studio_life @everyone');
    expect(lastBody('POST', `/rest/socialActions/${encodeURIComponent(root.id)}/comments`)).toEqual({
      actor: 'urn:li:organization:1001',
      object: root.id,
      message: { text: 'Opening hours (Mon–Fri) are on our page: #studio_life @everyone' },
    });
    expect(comment.url).toBe(`https://www.linkedin.com/feed/update/${root.id}?commentUrn=${encodeURIComponent(comment.id)}`);
  });

  it('posts one image as content.media with its alt text, and a comment may carry one image', async () => {
    const studio = await organizationAccount('Mia1a2b3c', 1001);
    const root = published(await publish(studio, { text: 'One picture', media: [jpeg('A single chair')] }));
    const content = li.state.posts.get(root.id)!.content as any;
    expect(Object.keys(content)).toEqual(['media']);
    expect(content.media.altText).toBe('A single chair');
    expect(li.state.images.get(content.media.id)!.owner).toBe('urn:li:organization:1001');

    const comment = published(await publish(studio, { index: 1, text: 'And its back', media: [jpeg()] }, { root, previous: root }));
    const [attached] = li.state.comments.get(comment.id)!.content as { entity: { image: string } }[];
    expect(li.state.images.get(attached.entity.image)!.status).toBe('AVAILABLE');
  });
});

describe('video', () => {
  it('uploads the video in the byte ranges LinkedIn hands out, waits while it processes, then posts it', async () => {
    const noah = await memberAccount('Noah4d5e6f');
    const bytes = randomBytes(VIDEO_PART_BYTES * 3 + 1234);
    const video = mediaFromBytes(bytes, { kind: 'video', contentType: 'video/mp4', durationSeconds: 12 });
    const videosBefore = li.state.videos.size;

    const first = await publish(noah, { text: 'A short tour', media: [video] });
    expect(first.outcome.status).toBe('processing');
    const { saved, checkAfterSeconds } = first.outcome as Extract<PartOutcome, { status: 'processing' }>;
    expect(checkAfterSeconds).toBeGreaterThan(0);
    expect(first.beforeCreate).toEqual([]);
    expect(li.postsBy('urn:li:person:Noah4d5e6f').some((p) => p.shown === 'A short tour')).toBe(false);

    const urn = (saved.media as Record<string, string>)[video.id];
    const uploaded = li.state.videos.get(urn)!;
    expect(uploaded.owner).toBe('urn:li:person:Noah4d5e6f');
    expect(uploaded.parts).toHaveLength(4);
    expect(Buffer.compare(uploaded.bytes!, bytes)).toBe(0);
    expect(lastBody('POST', '/rest/videos')).toMatchObject({ finalizeUploadRequest: { video: urn, uploadedPartIds: uploaded.parts.map((p) => p.etag) } });
    expect(li.state.restBodies.find((b) => b.path === '/rest/videos' && (b.body as any).initializeUploadRequest?.fileSizeBytes === bytes.length)?.body).toEqual({
      initializeUploadRequest: { owner: 'urn:li:person:Noah4d5e6f', fileSizeBytes: bytes.length, uploadCaptions: false, uploadThumbnail: false },
    });

    // The engine calls again with what was saved: no second upload, and the post names the now AVAILABLE video.
    const second = await publish(noah, { text: 'A short tour', media: [video] }, { saved });
    const part = published(second);
    expect(li.state.videos.size).toBe(videosBefore + 1);
    expect((li.state.posts.get(part.id)!.content as any).media.id).toBe(urn);
  });

  it('fails as user content when LinkedIn cannot process the video', async () => {
    const noah = await memberAccount('Noah4d5e6f');
    li.failNextVideoProcessing();
    const video = mediaFromBytes(randomBytes(VIDEO_PART_BYTES + 10), { kind: 'video', contentType: 'video/mp4', durationSeconds: 5 });
    const first = await publish(noah, { text: 'Broken video', media: [video] });
    expect(first.outcome.status).toBe('processing');
    const err = await refusal(publish(noah, { text: 'Broken video', media: [video] }, { saved: (first.outcome as any).saved }));
    expect(err.category).toBe('user_content');
    expect(err.platformCode).toBe('PROCESSING_FAILED');
  });
});

describe("the emulator holds uploads to LinkedIn's contract", () => {
  it('refuses a reused upload token, ETags out of order, and a part of the wrong size', async () => {
    const noah = await memberAccount('Noah4d5e6f');
    const headers = { authorization: `Bearer ${noah.accessToken}`, 'linkedin-version': VERSION, 'x-restli-protocol-version': '2.0.0', 'content-type': 'application/json' };
    const call = (path: string, body: unknown) => fetch(`${li.origin}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const video = mediaFromBytes(randomBytes(VIDEO_PART_BYTES * 2), { kind: 'video', contentType: 'video/mp4', durationSeconds: 6 });
    const first = await publish(noah, { text: 'Uploaded once', media: [video] });
    const finalized = lastBody('POST', '/rest/videos');
    expect((await call('/rest/videos?action=finalizeUpload', finalized)).status).toBe(400);

    const init = await (
      await call('/rest/videos?action=initializeUpload', {
        initializeUploadRequest: { owner: noah.urn, fileSizeBytes: VIDEO_PART_BYTES * 2, uploadCaptions: false, uploadThumbnail: false },
      })
    ).json() as { value: { video: string; uploadToken: string; uploadInstructions: { uploadUrl: string; firstByte: number; lastByte: number }[] } };
    const etags: string[] = [];
    for (const part of init.value.uploadInstructions) {
      const url = new URL(part.uploadUrl);
      const short = await fetch(`${li.origin}${url.pathname}${url.search}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(10) });
      expect(short.status).toBe(400);
      const put = await fetch(`${li.origin}${url.pathname}${url.search}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(part.lastByte - part.firstByte + 1) });
      etags.push(put.headers.get('etag')!);
    }
    const reversed = { finalizeUploadRequest: { video: init.value.video, uploadToken: init.value.uploadToken, uploadedPartIds: [...etags].reverse() } };
    expect((await call('/rest/videos?action=finalizeUpload', reversed)).status).toBe(400);
    expect(first.outcome.status).toBe('processing');
  });
});

describe('errors, in LinkedIn\'s words', () => {
  it('a dead token → auth_expired', async () => {
    const noah = await memberAccount('Noah4d5e6f');
    const err = await refusal(publish({ ...noah, accessToken: 'AQVnot-a-token' }, { text: 'Hello' }));
    expect(err.category).toBe('auth_expired');
    expect(err.message).toBe('Invalid access token');
  });

  it('a token without w_member_social → permission_missing', async () => {
    const noah = await memberAccount('Noah4d5e6f', ['openid', 'profile', 'email']);
    const err = await refusal(publish(noah, { text: 'Hello without the scope' }));
    expect(err.category).toBe('permission_missing');
    expect(err.platformCode).toBe('ACCESS_DENIED');
  });

  it('an organization the member holds no posting role on, or does not administer at all → permission_missing', async () => {
    const mia = await organizationAccount('Mia1a2b3c', 1001);
    for (const id of ['1003', '999999']) {
      const account: PublishAccount = { networkUniqueId: id, username: null, accountType: 'organization', metadata: { organizationUrn: `urn:li:organization:${id}` } };
      const err = await refusal(publish({ ...mia, account }, { text: `Posting as ${id}` }));
      expect(err.category).toBe('permission_missing');
      expect(err.message).toContain(`urn:li:organization:${id}`);
    }
  });

  it('the same post twice → duplicate, naming the first', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    const first = published(await publish(olga, { text: 'Said once.' }));
    const err = await refusal(publish(olga, { text: 'Said once.' }));
    expect(err.category).toBe('duplicate');
    expect(err.message).toBe(`Content is a duplicate of ${first.id}`);
  });

  it('a body LinkedIn refuses → user_content, and so is an upload the upload host refuses', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    li.failNext('posts', linkedinFailures.badBody('com.linkedin.content.common.exception.BadRequestResponseException: Invalid media'));
    const err = await refusal(publish(olga, { text: 'Bad body' }));
    expect(err.category).toBe('user_content');
    expect(err.message).toContain('Invalid media');

    // The upload host refuses the image's bytes: the post is not sent.
    li.failNext('upload', { status: 400, body: { status: 400, message: 'Upload failed' } });
    const upload = await refusal(publish(olga, { text: 'Image that never arrived', media: [jpeg()] }));
    expect(upload.category).toBe('user_content');
  });

  it('a DAY limit → rate_limited until the next midnight UTC; another 429 → rate_limited shortly', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    li.failNext('posts', linkedinFailures.memberDayLimit());
    const daily = await refusal(publish(olga, { text: 'Over the quota' }));
    expect(daily.category).toBe('rate_limited');
    const now = new Date();
    const untilMidnight = (Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime()) / 1000;
    expect(daily.retryAfterSeconds).toBeGreaterThanOrEqual(Math.min(60, untilMidnight - 5));
    expect(daily.retryAfterSeconds).toBeLessThanOrEqual(Math.max(60, untilMidnight + 1));

    li.failNext('posts', linkedinFailures.tooManyRequests());
    const burst = await refusal(publish(olga, { text: 'Too fast' }));
    expect(burst.category).toBe('rate_limited');
    expect(burst.retryAfterSeconds).toBe(60);
  });

  it('a version LinkedIn no longer serves → platform_rejected, telling the operator what to set', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    li.setVersions(SERVED_VERSIONS.filter((v) => v !== VERSION));
    try {
      const err = await refusal(publish(olga, { text: 'Old version' }));
      expect(err.category).toBe('platform_rejected');
      expect(err.message).toContain('SWITCHBOARD_LINKEDIN_VERSION');
      expect(err.message).toContain(`Requested version ${VERSION}01 is not active`);
    } finally {
      li.setVersions(SERVED_VERSIONS);
    }
  });

  it('LinkedIn failing → platform_error, for the post and for its media', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    li.failNext('posts', linkedinFailures.serverError());
    expect((await refusal(publish(olga, { text: 'During an outage' }))).category).toBe('platform_error');
    li.failNext('media', linkedinFailures.serverError());
    expect((await refusal(publish(olga, { text: 'Image during an outage', media: [jpeg()] }))).category).toBe('platform_error');
  });

  it('a comment on a post that is gone → user_content', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    const root = published(await publish(olga, { text: 'Soon deleted' }));
    await publishing.deletePart!({ app: MEMBER_APP, accessToken: olga.accessToken, account: olga.account, options: {}, part: root });
    const err = await refusal(publish(olga, { index: 1, text: 'Too late' }, { root, previous: root }));
    expect(err.category).toBe('user_content');
  });
});

describe('findPart: was it published?', () => {
  it('finds a post whose answer was lost after LinkedIn made it, so the engine does not post it twice', async () => {
    const noah = await memberAccount('Noah4d5e6f', [...MEMBER_SCOPES, 'r_member_social']);
    li.loseNextAnswer('posts');
    const run: Run = { outcome: undefined as unknown as PartOutcome, beforeCreate: [], saves: [], postsAtBeforeCreate: [] };
    const err = await publishing.publishPart(input(noah, { text: 'Made, but the answer was lost (really)' }, {}, run)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    const made = li.postsBy('urn:li:person:Noah4d5e6f').find((p) => p.shown === 'Made, but the answer was lost (really)')!;
    expect(made).toBeDefined();
    const found = await publishing.findPart!(input(noah, { text: 'Made, but the answer was lost (really)' }, { saved: run.beforeCreate[0] }));
    expect(found).toEqual({ id: made.id, url: `https://www.linkedin.com/feed/update/${made.id}`, data: { author: 'urn:li:person:Noah4d5e6f' } });
  });

  it("answers 'unknown', not 'absent', when the author's newer posts fill the page the post would be on", async () => {
    const olga = await memberAccount('Olga7g8h9i', [...MEMBER_SCOPES, 'r_member_social']);
    li.failNext('posts', linkedinFailures.serverError());
    const run: Run = { outcome: undefined as unknown as PartOutcome, beforeCreate: [], saves: [], postsAtBeforeCreate: [] };
    await refusal(publishing.publishPart(input(olga, { text: 'Pushed off the first page' }, {}, run)));
    for (let i = 0; i < 20; i++) published(await publish(olga, { text: `A busy afternoon, post ${i}` }));
    expect(await publishing.findPart!(input(olga, { text: 'Pushed off the first page' }, { saved: run.beforeCreate[0] }))).toBe('unknown');
  });


  it('finds a post it created, by the commentary and time saved at beforeCreate, when the posts can be read', async () => {
    const noah = await memberAccount('Noah4d5e6f', [...MEMBER_SCOPES, 'r_member_social']);
    const run = await publish(noah, { text: 'Findable (with r_member_social)' });
    const part = published(run);
    const found = await publishing.findPart!(input(noah, { text: 'Findable (with r_member_social)' }, { saved: run.beforeCreate[0] }));
    expect(found).toEqual(part);
    const call = [...li.state.calls].reverse().find((c) => c.method === 'GET' && c.path === '/rest/posts')!;
    expect(call.query).toMatchObject({ q: 'author', author: 'urn:li:person:Noah4d5e6f', sortBy: 'LAST_MODIFIED' });
  });

  it("answers 'absent' when the create never reached LinkedIn, so it is safe to send again", async () => {
    const noah = await memberAccount('Noah4d5e6f', [...MEMBER_SCOPES, 'r_member_social']);
    li.failNext('posts', linkedinFailures.serverError());
    const run: Run = { outcome: undefined as unknown as PartOutcome, beforeCreate: [], saves: [], postsAtBeforeCreate: [] };
    await refusal(publishing.publishPart(input(noah, { text: 'Lost on the way' }, {}, run)));
    expect(await publishing.findPart!(input(noah, { text: 'Lost on the way' }, { saved: run.beforeCreate[0] }))).toBe('absent');
  });

  it("answers 'unknown' for a member token without r_member_social, and when nothing was saved", async () => {
    const olga = await memberAccount('Olga7g8h9i');
    const run = await publish(olga, { text: 'Unreadable afterwards' });
    published(run);
    expect(await publishing.findPart!(input(olga, { text: 'Unreadable afterwards' }, { saved: run.beforeCreate[0] }))).toBe('unknown');
    expect(await publishing.findPart!(input(olga, { text: 'Unreadable afterwards' }))).toBe('unknown');
  });

  it('finds an organization post and its comment with r_organization_social', async () => {
    const studio = await organizationAccount('Mia1a2b3c', 1001);
    const postRun = await publish(studio, { text: 'Organization, findable' });
    const root = published(postRun);
    expect(await publishing.findPart!(input(studio, { text: 'Organization, findable' }, { saved: postRun.beforeCreate[0] }))).toEqual(root);

    const commentRun = await publish(studio, { index: 1, text: 'A findable comment' }, { root, previous: root });
    const comment = published(commentRun);
    expect(await publishing.findPart!(input(studio, { index: 1, text: 'A findable comment' }, { root, previous: root, saved: commentRun.beforeCreate[0] }))).toEqual(comment);

    li.failNext('comments', linkedinFailures.serverError());
    const lost: Run = { outcome: undefined as unknown as PartOutcome, beforeCreate: [], saves: [], postsAtBeforeCreate: [] };
    await refusal(publishing.publishPart(input(studio, { index: 1, text: 'A lost comment' }, { root, previous: root }, lost)));
    expect(await publishing.findPart!(input(studio, { index: 1, text: 'A lost comment' }, { root, previous: root, saved: lost.beforeCreate[0] }))).toBe('absent');
  });
});

describe('upload URLs', () => {
  it('never sends the token or the bytes to an upload URL outside linkedin.com', async () => {
    const olga = await memberAccount('Olga7g8h9i');
    const uploads = li.state.uploads.length;
    li.state.uploadOrigin = 'https://uploads.example.net';
    try {
      const err = await refusal(publish(olga, { text: 'Elsewhere', media: [jpeg()] }));
      expect(err.category).toBe('platform_error');
      expect(err.message).toContain('uploads.example.net');
    } finally {
      li.state.uploadOrigin = 'https://www.linkedin.com';
    }
    expect(li.state.uploads.length).toBe(uploads);
  });
});

describe('deletePart', () => {
  it('deletes a comment and a post at LinkedIn; deleting again is not an error', async () => {
    const studio = await organizationAccount('Mia1a2b3c', 1001);
    const root = published(await publish(studio, { text: 'To be deleted' }));
    const comment = published(await publish(studio, { index: 1, text: 'Also to be deleted' }, { root, previous: root }));
    const context = { app: ORGANIZATION_APP, accessToken: studio.accessToken, account: studio.account, options: {} };

    await publishing.deletePart!({ ...context, part: comment });
    expect(li.state.comments.get(comment.id)!.deleted).toBe(true);
    await publishing.deletePart!({ ...context, part: root });
    expect(li.state.posts.get(root.id)!.deleted).toBe(true);
    await publishing.deletePart!({ ...context, part: root });
  });

  it('refuses to delete as someone who may not → permission_missing', async () => {
    const studio = await organizationAccount('Mia1a2b3c', 1001);
    const root = published(await publish(studio, { text: 'Not yours to delete' }));
    const olga = await memberAccount('Olga7g8h9i');
    const err = await refusal(publishing.deletePart!({ app: MEMBER_APP, accessToken: olga.accessToken, account: olga.account, options: {}, part: root }));
    expect(err.category).toBe('permission_missing');
    expect(li.state.posts.get(root.id)!.deleted).toBe(false);
  });
});

describe('rules and checks for preflight', () => {
  it("declares LinkedIn's limits: 3,000 UTF-16 characters, 1–20 images, one MP4 of 3 s to 30 min, comments after", () => {
    expect(LINKEDIN_RULES.text).toEqual({ maxLength: 3000, counting: 'utf16', maxLengthLater: 1250 });
    expect(LINKEDIN_RULES.media.image?.maxCount).toBe(20);
    expect(LINKEDIN_RULES.media.image?.contentTypes).toEqual(['image/jpeg', 'image/png', 'image/gif']);
    expect(LINKEDIN_RULES.media.video).toMatchObject({ maxCount: 1, contentTypes: ['video/mp4'], minSeconds: 3, maxSeconds: 1800, maxBytes: 500_000_000 });
    expect(LINKEDIN_RULES.media.mixKinds).toBe(false);
    expect(LINKEDIN_RULES.laterContainers).toBe('comments');
  });

  it('refuses what LinkedIn would: a comment with two images or a video, an image of too many pixels, a tiny video', () => {
    const huge = mediaFromBytes(Buffer.alloc(10), { kind: 'image', contentType: 'image/png', width: 7000, height: 6000 });
    const tiny = mediaFromBytes(Buffer.alloc(1000), { kind: 'video', contentType: 'video/mp4', durationSeconds: 4 });
    const problems = publishing.check!({
      account: { networkUniqueId: 'x', username: null, accountType: 'personal', metadata: {} },
      options: {},
      containers: [
        { index: 0, text: 'Post', media: [huge] },
        { index: 1, text: 'Comment', media: [jpeg(), jpeg()] },
        { index: 2, text: 'Comment', media: [tiny] },
      ],
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toContain('36,152,320 pixels');
    expect(problems[1]).toContain('at most one image');
    expect(problems[2]).toContain('75 KB');
    expect(problems[3]).toContain('at most one image');
  });
});

async function bytesOf(media: PublishMedia): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await media.open()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('through our HTTP API', () => {
  let t: TestServer;
  const accountOf: Record<string, string> = {};
  const publishNow = () => publishDue(t.server.ctx);
  const getPost = async (id: string) => (await t.api('GET', `/v1/posts/${id}`)).body.post;
  const makeDue = (postId: string) => t.server.ctx.db.update(postTargets).set({ dueAt: new Date() }).where(eq(postTargets.postId, postId));

  beforeAll(async () => {
    t = await startServerFor(li.origin, LINKEDIN_ORIGINS, { SWITCHBOARD_LINKEDIN_VERSION: VERSION });
    li.allowRedirectUri(`${t.url}/oauth/linkedin/callback`);
    await configureNetwork(t, 'linkedin', { client_key: 'li-cm-app', client_secret: 'secret', options: { organizations: true } });
    li.signIn('Mia1a2b3c');
    const params = resultOf(await connectThroughBrowser(t, 'linkedin', { tenant_id: 'tenant-mia', selection: 'headless' }));
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['Mia1a2b3c', '1001'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    for (const a of done.body.connectedAccounts) accountOf[a.network_unique_id] = a.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('publishes a Page post and its comment, and reports both ids and the post URL', async () => {
    const res = await t.api('POST', '/v1/posts', {
      containers: [{ content: 'From the API: a post (with a comment) #launch' }, { content: 'The comment (plain text) @all' }],
      accounts: [accountOf['1001']],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await publishNow()).toBe(1);
    const post = await getPost(res.body.post.id);
    expect(post.status).toBe('published');
    const target = post.socialAccounts[0];
    const atLinkedIn = li.postsBy('urn:li:organization:1001').find((p) => p.shown === 'From the API: a post (with a comment) #launch')!;
    expect(atLinkedIn).toBeDefined();
    const comment = [...li.state.comments.values()].find((c) => c.object === atLinkedIn.id)!;
    expect(comment).toMatchObject({ actor: 'urn:li:organization:1001', text: 'The comment (plain text) @all' });
    expect(target).toMatchObject({ status: 'published', platformPostId: atLinkedIn.id, platformPostUrl: `https://www.linkedin.com/feed/update/${atLinkedIn.id}` });
    expect(target.platformPostIds).toEqual([atLinkedIn.id, comment.urn]);
  });

  it("refuses at once a post longer than LinkedIn's 3,000 characters", async () => {
    const res = await t.api('POST', '/v1/posts', { content: 'a'.repeat(3001), accounts: [accountOf.Mia1a2b3c] });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.details.accounts[accountOf.Mia1a2b3c])).toMatch(/3000|3,000/);
  });

  it('does not post twice when the answer is lost: it finds the Page post at LinkedIn first', async () => {
    li.loseNextAnswer('posts');
    const res = await t.api('POST', '/v1/posts', { content: 'Answer lost, post kept once', accounts: [accountOf['1001']] });
    await publishNow();
    expect((await getPost(res.body.post.id)).status).toBe('publishing');
    await makeDue(res.body.post.id);
    await publishNow();
    const post = await getPost(res.body.post.id);
    const copies = li.postsBy('urn:li:organization:1001').filter((p) => p.shown === 'Answer lost, post kept once');
    expect(copies).toHaveLength(1);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'published', platformPostId: copies[0].id });
  });

  it("fails a member's post as unknown_outcome rather than resend it, when the member's posts cannot be read", async () => {
    li.loseNextAnswer('posts');
    const res = await t.api('POST', '/v1/posts', { content: 'Answer lost, member cannot look', accounts: [accountOf.Mia1a2b3c] });
    await publishNow();
    await makeDue(res.body.post.id);
    await publishNow();
    const post = await getPost(res.body.post.id);
    expect(post.socialAccounts[0]).toMatchObject({ status: 'failed', errorCategory: 'unknown_outcome' });
    expect(li.postsBy('urn:li:person:Mia1a2b3c').filter((p) => p.shown === 'Answer lost, member cannot look')).toHaveLength(1);
  });

  it('deletes the post and its comment at LinkedIn', async () => {
    const res = await t.api('POST', '/v1/posts', { containers: [{ content: 'Deleted through the API' }, { content: 'Its comment' }], accounts: [accountOf['1001']] });
    await publishNow();
    const [post, comment] = (await getPost(res.body.post.id)).socialAccounts[0].platformPostIds;
    const deleted = await t.api('DELETE', `/v1/posts/${res.body.post.id}/remote`);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(li.state.posts.get(post)!.deleted).toBe(true);
    expect(li.state.comments.get(comment)!.deleted).toBe(true);
  });

  it('proxies to api.linkedin.com with the token and the version headers', async () => {
    const res = await fetch(`${t.url}/v1/social-accounts/${accountOf['1001']}/proxy/rest/organizationAcls?q=roleAssignee`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(res.status).toBe(200);
    const call = [...li.state.calls].reverse().find((c) => c.path === '/rest/organizationAcls')!;
    expect(call.headers['linkedin-version']).toBe(VERSION);
    expect(call.headers['x-restli-protocol-version']).toBe('2.0.0');
  });
});
