// Bluesky publishing (AT Protocol). A post is a record of type `app.bsky.feed.post` in the account's repository, written
// at the account's PDS (its home server, `metadata.pds` from the connection) with the session's access JWT.
//
//   Record         {$type: "app.bsky.feed.post", text, createdAt, langs?, facets?, reply?, embed?}
//                  text ≤ 300 graphemes and ≤ 3,000 bytes (may be "" with an embed); langs ≤ 3;
//                  facets: links, mentions and hashtags at UTF-8 byte ranges (`richtext.ts`);
//                  reply: {root: {uri, cid}, parent: {uri, cid}} — a thread is a chain of replies to one root;
//                  embed: app.bsky.embed.images {images: [{image: blob, alt (required, may be ""), aspectRatio?}]} (≤ 4,
//                  each blob ≤ 2,000,000 bytes, "formerly limited to 1 MB"), app.bsky.embed.video {video: blob (video/mp4,
//                  ≤ 300,000,000 bytes), alt?, aspectRatio?}, app.bsky.embed.external {external: {uri, title,
//                  description (all required strings), thumb?}}. aspectRatio: {width, height}, integers ≥ 1.
//                  https://docs.bsky.app/docs/advanced-guides/posts
//                  https://github.com/bluesky-social/atproto/tree/main/lexicons/app/bsky (feed/post, embed/*, richtext/facet)
//   Record key     The post lexicon's key type is `tid`: 13 characters of base32-sortable (`234567a-z`) encoding a 64-bit
//                  integer — top bit 0, 53 bits of microseconds since the epoch, 10 bits of random clock id.
//                  https://atproto.com/specs/record-key   https://atproto.com/specs/tid
//   Write          POST {pds}/xrpc/com.atproto.repo.putRecord {repo: did, collection, rkey, record, validate} → {uri, cid}.
//                  Exactly once: the key is chosen here and kept (`beforeCreate`) before the write, with the record
//                  itself. A repeat first looks at that key (getRecord): a record there is the post whose answer was
//                  lost. Otherwise it sends that same record to that same key; the PDS answers a write of the record
//                  already there as a no-op (same uri and cid, no commit), so even a repeat racing the first write
//                  cannot make a second post nor change the first. (createRecord and applyWrites also take an `rkey`, but a create at a key that is
//                  taken fails inside the repository's tree with a plain error — HTTP 500 — not a signal we could trust.)
//                  https://github.com/bluesky-social/atproto/blob/main/packages/pds/src/api/com/atproto/repo/putRecord.ts
//   Find           GET {pds}/xrpc/com.atproto.repo.getRecord?repo&collection&rkey → {uri, cid, value};
//                  400 {"error": "RecordNotFound"} when absent.
//   Delete         POST {pds}/xrpc/com.atproto.repo.deleteRecord {repo, collection, rkey} (a missing record is a no-op).
//   Images         POST {pds}/xrpc/com.atproto.repo.uploadBlob, the raw bytes with their Content-Type → {blob}. Blobs are
//                  content-addressed: the same bytes give the same ref. The PDS refuses a body over 52,428,800 bytes
//                  (413 PayloadTooLarge); a record whose blob is over its lexicon's maxSize is 400 BlobTooLarge.
//                  https://docs.bsky.app/docs/advanced-guides/rate-limits ("maximum size limit on individual blob uploads")
//   Video          https://docs.bsky.app/docs/tutorials/video (the video service, so the post is never seen without its video):
//                  1. GET https://video.bsky.app/xrpc/app.bsky.video.getUploadLimits, Bearer a service token
//                     (aud did:web:video.bsky.app, lxm app.bsky.video.getUploadLimits) → {canUpload, remainingDailyVideos,
//                     remainingDailyBytes, message?, error?}. Bluesky-hosted accounts need a verified email; daily caps.
//                  2. GET {pds}/xrpc/com.atproto.server.getServiceAuth?aud=did:web:<PDS host>&lxm=com.atproto.repo.uploadBlob
//                     &exp=<now + 30 min> → {token} (exp at most an hour ahead).
//                  3. POST https://video.bsky.app/xrpc/app.bsky.video.uploadVideo?did=<did>&name=<file name>, the mp4 bytes,
//                     Bearer that token → the job status {jobId, did, state} (the service answers the status itself, not
//                     the lexicon's `{jobStatus}` wrapper; both are read).
//                  4. GET https://video.bsky.app/xrpc/app.bsky.video.getJobStatus?jobId (no auth) → {jobStatus: {state,
//                     progress?, blob?, error?, message?}}: JOB_STATE_COMPLETED carries the blob the service stored on the
//                     PDS; JOB_STATE_FAILED ends it. A video the service already processed fails with `already_exists` but
//                     still carries its blob, so a blob is used whatever the state says.
//                  Limits: the lexicon allows 300 MB ("formerly limited to 100mb"); Bluesky's app allows 10 minutes (it
//                  was 3 minutes until 2025) — the account's own daily limits are read at runtime in step 1.
//   Link card      When a post has a link and no media, Bluesky's app asks its own card service for the page's title and
//                  description: GET https://cardyb.bsky.app/v1/extract?url= → {error, title, description, image} [OBS:
//                  not documented; it is what bsky.app does]. We ask the same fixed host (we never fetch the linked page
//                  ourselves, so no caller-chosen URL is fetched from here) and build `app.bsky.embed.external` from its
//                  answer, without a thumbnail. No card when it has no title or fails: the link facet still makes the link
//                  clickable, and a card that repeats the URL as its title adds nothing. Off with `bluesky.linkCard: false`.
//   Limits         Writes cost points per account: create 3, update 2, delete 1; 5,000 points an hour, 35,000 a day. A limit
//                  answers 429 RateLimitExceeded with `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (epoch
//                  seconds), `ratelimit-policy`. https://docs.bsky.app/docs/advanced-guides/rate-limits
//   Errors         XRPC {error, message}: 400/401 ExpiredToken, InvalidToken, AuthMissing, AuthenticationRequired → the
//                  session is dead (auth_expired); 429 → rate_limited at `ratelimit-reset`; BlobTooLarge, PayloadTooLarge,
//                  InvalidRequest (lexicon validation), a failed video job → user_content; canUpload false → quota_exhausted;
//                  AccountTakedown/AccountDeactivated → platform_rejected; 5xx → platform_error. https://atproto.com/specs/xrpc
//   Web URL        https://bsky.app/profile/{did}/post/{rkey} (the DID, not the handle: a handle can change, the DID not).
//
// Every call to the PDS is guarded as a caller-chosen host (its address comes from the account's DID document), and
// only the words of Bluesky's own PDS hosts are repeated to our caller (`connection.ts`).
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AdapterContext,
  type NetworkApi,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishedPart,
  type PublishMedia,
  type PublishingRules,
  type SavedProgress,
} from '../types.ts';
import { createBlueskyClient, didOf, ENTRYWAY, isBlueskyHostedPds, pdsOf, rateLimitWait } from './connection.ts';
import { buildFacets, utf8Length, type Facet } from './richtext.ts';

const POST = 'app.bsky.feed.post';
const VIDEO_SERVICE = 'https://video.bsky.app';
const VIDEO_SERVICE_DID = 'did:web:video.bsky.app';
const CARD_SERVICE = 'https://cardyb.bsky.app/v1/extract';
const MAX_TEXT_BYTES = 3000;
/** The service token for uploadVideo lives this long (the tutorial's 30 minutes: the upload itself may be slow). */
const UPLOAD_TOKEN_SECONDS = 30 * 60;
/** How soon to ask about a video job again (the tutorial polls every second; processing takes seconds to minutes). */
const VIDEO_CHECK_SECONDS = 5;
const CARD_TIMEOUT_MS = 5000;

export const blueskyRules: PublishingRules = {
  text: { maxLength: 300, counting: 'graphemes' },
  media: {
    maxItems: 4,
    // The lexicon takes image/*; these are the types Bluesky's app sends and its image CDN renders. An animated GIF is
    // not an image here (it would show only its first frame); Bluesky's app converts those to video first.
    image: { maxCount: 4, maxBytes: 2_000_000, contentTypes: ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] },
    video: { maxCount: 1, maxBytes: 300_000_000, contentTypes: ['video/mp4'], maxSeconds: 600 },
    mixKinds: false,
  },
  laterContainers: 'replies',
  laterContainersMedia: true,
};

/** `bluesky: {…}` in a post. */
export const blueskyOptionsSchema = z
  .object({
    /** The text's languages (BCP-47, at most 3), for Bluesky's feeds and translation. */
    langs: z.array(z.string().regex(/^[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,8})*$/, 'a BCP-47 language tag such as "en" or "pt-BR"')).max(3).optional(),
    /** A link card for the first link of a post without media (default true). */
    linkCard: z.boolean().optional(),
  })
  .strict();

const BlobRef = z.object({ $type: z.literal('blob'), ref: z.object({ $link: z.string() }), mimeType: z.string(), size: z.number() }).passthrough();
type BlobRef = z.infer<typeof BlobRef>;
const UploadedBlob = z.object({ blob: BlobRef });
const Written = z.object({ uri: z.string().startsWith('at://'), cid: z.string().min(1) });
const ServiceToken = z.object({ token: z.string().min(1) });
const UploadLimits = z.object({
  canUpload: z.boolean(),
  remainingDailyVideos: z.number().optional(),
  remainingDailyBytes: z.number().optional(),
  message: z.string().optional(),
  error: z.string().optional(),
});
const JobStatus = z.object({
  jobId: z.string().min(1),
  state: z.string(),
  blob: BlobRef.optional(),
  error: z.string().optional(),
  message: z.string().optional(),
  progress: z.number().optional(),
});
type JobStatus = z.infer<typeof JobStatus>;
const Card = z.object({ error: z.string().optional(), title: z.string().optional(), description: z.string().optional() });
const XrpcError = z.object({ error: z.string().optional(), message: z.string().optional() });

/** What a part keeps between attempts. `rkey` + `record`: chosen before the write, sent unchanged on any repeat. */
interface BlueskySaved {
  rkey?: string;
  record?: Record<string, unknown>;
  /** The video service's job for this part's video, once uploaded. */
  videoJobId?: string;
}

// ---- TIDs (https://atproto.com/specs/tid) ----------------------------------------------------------------------------
const BASE32_SORTABLE = '234567abcdefghijklmnopqrstuvwxyz';
export const TID_SYNTAX = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;
let lastTidMicros = 0;

/** A fresh TID: this process's clock in microseconds (never repeated here) and a random 10-bit clock id. */
export function nextTid(now = Date.now()): string {
  const micros = Math.max(now * 1000, lastTidMicros + 1);
  lastTidMicros = micros;
  let value = (BigInt(micros) << 10n) | BigInt(randomInt(1024));
  let tid = '';
  for (let i = 0; i < 13; i++) {
    tid = BASE32_SORTABLE[Number(value & 31n)] + tid;
    value >>= 5n;
  }
  return tid;
}

export function createBlueskyPublishing(ctx: AdapterContext): NetworkPublishing {
  const upstream = ctx.upstream;
  const client = createBlueskyClient(upstream);

  /** One account's PDS, called with its session. */
  function pdsOfAccount(account: PublishAccount, accessToken: string) {
    const pds = pdsOf(account.metadata);
    const did = didOf(account.metadata);
    const service: Service = { name: "The account's home server (PDS)", repeatWords: isBlueskyHostedPds(pds) };
    const call = async (method: string, init: UpstreamRequest, ok = (res: UpstreamResponse) => res.status === 200) => {
      const res = await upstream.request(`${pds}/xrpc/${method}`, { bearer: accessToken, ...init, callerChosenHost: true });
      if (!ok(res)) throw publishError(res, service);
      return res;
    };
    return { pds, did, service, call };
  }
  type Pds = ReturnType<typeof pdsOfAccount>;

  async function uploadBlob(pds: Pds, media: PublishMedia): Promise<BlobRef> {
    const res = await pds.call('com.atproto.repo.uploadBlob', {
      method: 'POST',
      raw: { data: await media.open(), contentType: media.contentType, length: media.size },
      timeoutMs: uploadTimeoutMs(media.size),
    });
    return read(UploadedBlob, res, pds.service).blob;
  }

  async function imagesEmbed(pds: Pds, images: PublishMedia[]) {
    const embedded = [];
    // One at a time: each is streamed from the store, and the PDS counts uploads per account.
    for (const image of images) {
      embedded.push({ image: await uploadBlob(pds, image), alt: image.alt ?? '', ...aspectRatio(image) });
    }
    return { $type: 'app.bsky.embed.images', images: embedded };
  }

  async function serviceToken(pds: Pds, aud: string, lxm: string, expiresInSeconds?: number): Promise<string> {
    const exp = expiresInSeconds ? String(Math.floor(Date.now() / 1000) + expiresInSeconds) : undefined;
    const res = await pds.call('com.atproto.server.getServiceAuth', { query: { aud, lxm, exp } });
    return read(ServiceToken, res, pds.service).token;
  }

  /** The video's embed once the video service has it, or the job to ask about again. */
  async function videoEmbed(input: PartInput, pds: Pds, video: PublishMedia): Promise<{ embed: Record<string, unknown> } | PartOutcome> {
    const saved = input.saved as BlueskySaved;
    const embedOf = (blob: BlobRef) => ({
      embed: { $type: 'app.bsky.embed.video', video: blob, ...(video.alt ? { alt: video.alt } : {}), ...aspectRatio(video) },
    });
    const videoService: Service = { name: "Bluesky's video service", repeatWords: true };

    if (!saved.videoJobId) {
      const limitsToken = await serviceToken(pds, VIDEO_SERVICE_DID, 'app.bsky.video.getUploadLimits');
      const limitsRes = await upstream.request(`${VIDEO_SERVICE}/xrpc/app.bsky.video.getUploadLimits`, { bearer: limitsToken });
      if (limitsRes.status !== 200) throw publishError(limitsRes, videoService);
      const limits = read(UploadLimits, limitsRes, videoService);
      if (!limits.canUpload) {
        throw new PublishError('quota_exhausted', limits.message ?? 'Bluesky does not take more videos from this account for now (its daily video limit)', {
          platformCode: limits.error ?? 'canUpload=false',
        });
      }
      if (limits.remainingDailyBytes !== undefined && limits.remainingDailyBytes < video.size) {
        throw new PublishError('quota_exhausted', `This video is ${video.size} bytes, more than the ${limits.remainingDailyBytes} bytes of video Bluesky takes from this account today`, {
          platformCode: 'remainingDailyBytes',
        });
      }

      const uploadToken = await serviceToken(pds, `did:web:${new URL(pds.pds).hostname}`, 'com.atproto.repo.uploadBlob', UPLOAD_TOKEN_SECONDS);
      const res = await upstream.request(`${VIDEO_SERVICE}/xrpc/app.bsky.video.uploadVideo`, {
        method: 'POST',
        query: { did: pds.did, name: video.filename },
        raw: { data: await video.open(), contentType: video.contentType, length: video.size },
        bearer: uploadToken,
        timeoutMs: uploadTimeoutMs(video.size),
      });
      const job = jobStatusOf(res.body);
      // A refusal without a job; a job (even with an error status: `already_exists`) is followed like any other.
      if (!job) throw publishError(res, videoService);
      const settled = settledJob(job);
      if (settled) return embedOf(settled);
      const next: BlueskySaved = { ...saved, videoJobId: job.jobId };
      return { status: 'processing', saved: next as SavedProgress, checkAfterSeconds: VIDEO_CHECK_SECONDS };
    }

    const res = await upstream.request(`${VIDEO_SERVICE}/xrpc/app.bsky.video.getJobStatus`, { query: { jobId: saved.videoJobId } });
    const job = jobStatusOf(res.body);
    if (!job) throw publishError(res, videoService);
    try {
      const settled = settledJob(job);
      if (settled) return embedOf(settled);
    } catch (err) {
      // The job is over: a later attempt (a retry of the post) uploads the video again rather than asking about it.
      const { videoJobId: _done, ...rest } = saved;
      await input.save(rest as SavedProgress);
      throw err;
    }
    return { status: 'processing', saved: saved as SavedProgress, checkAfterSeconds: VIDEO_CHECK_SECONDS };
  }

  /** The first link's card from Bluesky's card service, or nothing (never a reason to fail the post). */
  async function linkCard(facets: Facet[]) {
    const link = facets.flatMap((f) => f.features).find((f) => f.$type === 'app.bsky.richtext.facet#link');
    if (!link) return undefined;
    try {
      const res = await upstream.request(CARD_SERVICE, { query: { url: link.uri }, timeoutMs: CARD_TIMEOUT_MS });
      const card = res.status === 200 ? Card.safeParse(res.body).data : undefined;
      if (!card || card.error || !card.title?.trim()) return undefined;
      return { $type: 'app.bsky.embed.external', external: { uri: link.uri, title: card.title, description: card.description ?? '' } };
    } catch {
      return undefined;
    }
  }

  /** The one write: the record at its key, a no-op when it is already there. */
  async function write(pds: Pds, rkey: string, record: Record<string, unknown>): Promise<PartOutcome> {
    const res = await pds.call('com.atproto.repo.putRecord', { json: { repo: pds.did, collection: POST, rkey, record, validate: true } });
    const written = read(Written, res, pds.service);
    return { status: 'published', part: partOf(pds.did, rkey, written.uri, written.cid) };
  }

  /** The post at this key of the account's repository, or undefined when there is none. */
  async function recordAt(pds: Pds, rkey: string): Promise<PublishedPart | undefined> {
    const res = await pds.call('com.atproto.repo.getRecord', { query: { repo: pds.did, collection: POST, rkey } }, (r) => r.status === 200 || xrpcErrorName(r) === 'RecordNotFound');
    if (res.status !== 200) return undefined;
    const found = read(Written, res, pds.service);
    return partOf(pds.did, rkey, found.uri, found.cid);
  }

  return {
    rules: blueskyRules,
    optionsSchema: blueskyOptionsSchema,
    createIsRepeatable: true,

    check({ containers }) {
      return containers
        .filter((c) => utf8Length(c.text) > MAX_TEXT_BYTES)
        .map((c) => `Post ${c.index + 1} is ${utf8Length(c.text)} bytes long in UTF-8; Bluesky takes at most 3,000 bytes (beside its 300 characters)`);
    },

    async publishPart(input) {
      const pds = pdsOfAccount(input.account, input.accessToken);
      const saved = input.saved as BlueskySaved;
      const { container } = input;
      const images = container.media.filter((m) => m.kind !== 'video');

      // An earlier attempt reached the write. If the record is at its key, that is the answer that was lost; if not,
      // exactly that record goes to exactly that key (should the first write land meanwhile, this one is a no-op). Its
      // images are uploaded again first (the same bytes give the same refs) in case the PDS let unreferenced blobs go.
      if (saved.rkey && saved.record) {
        const found = await recordAt(pds, saved.rkey);
        if (found) return { status: 'published', part: found };
        if (images.length) await imagesEmbed(pds, images);
        return write(pds, saved.rkey, saved.record);
      }

      let embed: Record<string, unknown> | undefined;
      const video = container.media.find((m) => m.kind === 'video');
      if (video) {
        const outcome = await videoEmbed(input, pds, video);
        if ('status' in outcome) return outcome;
        embed = outcome.embed;
      } else if (images.length) {
        embed = await imagesEmbed(pds, images);
      }

      const facets = await buildFacets(container.text, (handle) => client.handleDid(handle));
      const options = input.options as z.infer<typeof blueskyOptionsSchema>;
      if (!embed && options.linkCard !== false) embed = await linkCard(facets);

      const record: Record<string, unknown> = {
        $type: POST,
        text: container.text,
        createdAt: new Date().toISOString(),
        ...(options.langs?.length ? { langs: options.langs } : {}),
        ...(facets.length ? { facets } : {}),
        ...(input.root ? { reply: { root: strongRef(input.root), parent: strongRef(input.previous ?? input.root) } } : {}),
        ...(embed ? { embed } : {}),
      };
      const rkey = nextTid();
      const next: BlueskySaved = { rkey, record };
      await input.beforeCreate(next as SavedProgress);
      return write(pds, rkey, record);
    },

    async findPart(input) {
      const { rkey } = input.saved as BlueskySaved;
      if (!rkey) return 'unknown';
      return (await recordAt(pdsOfAccount(input.account, input.accessToken), rkey)) ?? 'absent';
    },

    async deletePart({ accessToken, account, part }) {
      const pds = pdsOfAccount(account, accessToken);
      const rkey = part.id.split('/').pop()!;
      await pds.call('com.atproto.repo.deleteRecord', { json: { repo: pds.did, collection: POST, rkey } });
    },
  };
}

/** The proxy: Bluesky's entryway by default, each account's own PDS for its calls (where its repository lives). */
export const blueskyApi: NetworkApi = {
  origin: ENTRYWAY,
  originFor(account) {
    return { origin: pdsOf(account.metadata), callerChosenHost: true };
  },
};

function partOf(did: string, rkey: string, uri: string, cid: string): PublishedPart {
  return { id: uri, url: `https://bsky.app/profile/${did}/post/${rkey}`, data: { uri, cid } };
}

/** A published part as a reply's `root` or `parent`. */
function strongRef(part: PublishedPart): { uri: string; cid: string } {
  const { uri, cid } = part.data ?? {};
  if (typeof uri !== 'string' || typeof cid !== 'string') throw new PublishError('platform_error', 'The post this one replies to has no record reference on file');
  return { uri, cid };
}

function aspectRatio(media: PublishMedia) {
  return media.width && media.height ? { aspectRatio: { width: media.width, height: media.height } } : {};
}

/** Uploads stream from the store: allow about 256 KB a second, and at least a minute. */
function uploadTimeoutMs(bytes: number): number {
  return Math.max(60_000, Math.ceil(bytes / 256));
}

/** The job status in an answer: the lexicon wraps it in `jobStatus`, the service's uploadVideo answers it bare. */
function jobStatusOf(body: unknown): JobStatus | undefined {
  const wrapped = (body as { jobStatus?: unknown } | undefined)?.jobStatus;
  return JobStatus.safeParse(wrapped ?? body).data;
}

/** The blob of a finished job (whatever its state: `already_exists` fails but carries the blob), an error, or nothing yet. */
function settledJob(job: JobStatus): BlobRef | undefined {
  if (job.blob) return job.blob;
  if (job.state === 'JOB_STATE_FAILED') {
    throw new PublishError('user_content', `Bluesky could not process the video: ${job.message ?? job.error ?? 'the processing job failed'}`, {
      platformCode: job.error ?? 'JOB_STATE_FAILED',
    });
  }
  if (job.state === 'JOB_STATE_COMPLETED') throw new PublishError('platform_error', 'Bluesky finished processing the video but sent no file reference');
  return undefined;
}

export interface Service {
  /** Who answered, in our words. */
  name: string;
  /** Whether its own words may be repeated to our caller (Bluesky's hosts: yes; a self-hosted PDS: only its error name). */
  repeatWords: boolean;
}

function xrpcErrorName(res: UpstreamResponse): string | undefined {
  const error = XrpcError.safeParse(res.body).data?.error;
  // An XRPC error name is an identifier; anything else in that field is not one and is dropped.
  return error && /^[A-Za-z]{1,64}$/.test(error) ? error : undefined;
}

const SESSION_DEAD = new Set(['ExpiredToken', 'InvalidToken', 'AuthMissing', 'AuthenticationRequired']);
const ACCOUNT_UNUSABLE = new Set(['AccountTakedown', 'AccountDeactivated']);

/** A refusal classified from Bluesky's own error name and status. */
export function publishError(res: UpstreamResponse, service: Service): PublishError {
  const name = xrpcErrorName(res);
  const message = service.repeatWords ? XrpcError.safeParse(res.body).data?.message : undefined;
  const words = message ?? `${service.name} refused the request (HTTP ${res.status}${name ? `, ${name}` : ''})`;
  const platformCode = name ?? res.status;
  if (res.status === 429 || name === 'RateLimitExceeded') return new PublishError('rate_limited', words, { retryAfterSeconds: rateLimitWait(res), platformCode });
  if (res.status >= 500) return new PublishError('platform_error', words, { platformCode });
  if (res.status === 401 || (name && SESSION_DEAD.has(name))) return new PublishError('auth_expired', words, { platformCode });
  if (name && ACCOUNT_UNUSABLE.has(name)) return new PublishError('platform_rejected', words, { platformCode });
  if (res.status === 403) return new PublishError('permission_missing', words, { platformCode });
  // BlobTooLarge, PayloadTooLarge (413), InvalidRequest (the record failed the lexicon), InvalidSwap…: the content.
  return new PublishError('user_content', words, { platformCode });
}

function read<T>(schema: z.ZodType<T>, res: UpstreamResponse, service: Service): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new PublishError('platform_error', `${service.name} sent an answer we could not read (HTTP ${res.status})`);
  return parsed.data;
}

