// What an adapter declares and does to publish (PRODUCT.md, "Publishing"). The engine (`publishing/`) speaks only
// this: it checks posts against `rules` before accepting them, calls `publishPart` once per container, and asks
// `findPart` what happened when a worker died mid-call. Everything a network does differently — how it counts
// text, which media it takes, how a thread or a comment is made, what its errors mean — is data or code here,
// never a branch on a network's name in the engine.
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { AccountType, AppCredentials } from './types.ts';

export const MEDIA_KINDS = ['image', 'gif', 'video'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** One stored, confirmed file, as an adapter sees it. Its type, size and dimensions were read from the bytes. */
export interface PublishMedia {
  id: string;
  filename: string;
  contentType: string;
  kind: MediaKind;
  size: number;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  alt: string | null;
  /** An unguessable URL under PUBLIC_URL serving the bytes (Range supported), for networks that fetch by URL. */
  url: string;
  /** The bytes, streamed from the store; `range` is inclusive byte offsets. Never read whole into memory. */
  open(range?: { start: number; end: number }): Promise<Readable>;
}

/** One container of a post: the first is the post itself, the others its thread or comments. */
export interface PublishContainer {
  index: number;
  text: string;
  media: PublishMedia[];
}

/** How a network counts text (PRODUCT.md: "text length as the network counts it"). */
export type TextCounting =
  /** Unicode code points. */
  | 'code_points'
  /** User-perceived characters (Intl.Segmenter graphemes): Bluesky. */
  | 'graphemes'
  /** X's weighted count (twitter-text): most characters 1, CJK and emoji 2, every URL 23. */
  | 'x_weighted'
  /** UTF-16 code units, as JavaScript's `length` (LinkedIn's and Meta's documented limits are in characters). */
  | 'utf16';

export interface MediaKindRule {
  /** At most this many of this kind in one container. */
  maxCount: number;
  maxBytes: number;
  /** Accepted types, as read from the bytes (`image/jpeg`, `video/mp4`…). */
  contentTypes: readonly string[];
  minSeconds?: number;
  maxSeconds?: number;
  minWidth?: number;
  minHeight?: number;
  maxWidth?: number;
  maxHeight?: number;
  /** Width / height bounds. */
  minAspectRatio?: number;
  maxAspectRatio?: number;
}

/** The network's documented rules, checked by preflight before a post is accepted (each cited in the adapter). */
export interface PublishingRules {
  text: {
    maxLength: number;
    counting: TextCounting;
    /** Longer limit for later containers (comments), if it differs. */
    maxLengthLater?: number;
  };
  media: {
    /** Media items in one container, all kinds together. */
    maxItems: number;
    /** Kinds the network takes; a kind absent here is refused. */
    image?: MediaKindRule;
    gif?: MediaKindRule;
    video?: MediaKindRule;
    /** Whether one container may mix kinds (X: no; images with a video is refused). */
    mixKinds: boolean;
    /** The first container must have media (Instagram, TikTok, YouTube). */
    required?: 'any' | 'video';
  };
  /** How later containers go out: a thread of replies, comments under the first post, or not at all (400). */
  laterContainers: 'replies' | 'comments' | 'none';
  /** Whether later containers may carry media (a comment often may not). */
  laterContainersMedia: boolean;
  /** Most containers in one post, if the network has such a limit. */
  maxContainers?: number;
}

/** The account a target publishes through. */
export interface PublishAccount {
  networkUniqueId: string;
  username: string | null;
  accountType: AccountType;
  metadata: Record<string, unknown>;
}

/** Everything a call for one target needs: the organization's app, the account's current token, its options. */
export interface PublishContext {
  app: AppCredentials;
  accessToken: string;
  account: PublishAccount;
  /** This network's options from the post (`x: {…}`), already validated by `optionsSchema`. */
  options: Record<string, unknown>;
}

/** A container once it is at the network. */
export interface PublishedPart {
  id: string;
  url: string | null;
  /** Facts later calls need (Bluesky's record cid for replies, the owner URN for a comment). Never secrets. */
  data?: Record<string, unknown>;
}

/** Progress an adapter keeps for one part between attempts (uploaded media ids, a chosen record key). JSON only. */
export type SavedProgress = Record<string, unknown>;

export interface PartInput extends PublishContext {
  container: PublishContainer;
  /** The first container's post (null while publishing the first). */
  root: PublishedPart | null;
  /** The container before this one (null for the first). */
  previous: PublishedPart | null;
  /** What this adapter saved for this part on an earlier attempt; `{}` the first time. */
  saved: SavedProgress;
  /**
   * Must be awaited right before the one request that creates the post at the network, with everything `findPart`
   * will need to look for it. From then until the answer, a dead worker leaves an outcome only `findPart` can tell.
   */
  beforeCreate(saved: SavedProgress): Promise<void>;
  /** Keeps progress that is safe to repeat (media uploaded, a processing job started), so a retry can reuse it. */
  save(saved: SavedProgress): Promise<void>;
}

export type PartOutcome =
  | { status: 'published'; part: PublishedPart }
  /** The network is still working (media processing, a container): call again after `checkAfterSeconds` with `saved`. */
  | { status: 'processing'; saved: SavedProgress; checkAfterSeconds: number };

/** `findPart`'s answer when the part is at the network but not done (a video still processing): poll it as `publishPart` would. */
export interface FoundProcessing {
  status: 'processing';
  saved: SavedProgress;
  checkAfterSeconds: number;
}

export interface NetworkPublishing {
  rules: PublishingRules;
  /** This network's per-post options (`{"x": {…}}` in a post), with its required ones. */
  optionsSchema?: z.ZodType<Record<string, unknown>>;
  /** Problems preflight cannot see from `rules` alone (options that depend on the account), in plain words. */
  check?(input: { containers: PublishContainer[]; options: Record<string, unknown>; account: PublishAccount }): string[];
  /** Publishes one container (uploading its media the network's way), as a reply or a comment when `root` is set. */
  publishPart(input: PartInput): Promise<PartOutcome>;
  /**
   * After a worker died between `beforeCreate` and the answer: is the part at the network? `absent` → it is safe to
   * create it again; `unknown` → it cannot be told, and the target fails with `unknown_outcome` rather than post twice.
   * Absent → every such outcome is unknown, unless `createIsRepeatable`.
   */
  findPart?(input: PartInput): Promise<PublishedPart | 'absent' | 'unknown' | FoundProcessing>;
  /**
   * The create request carries the network's own exactly-once means (a record key chosen in advance, an
   * idempotency key in `saved`), so sending it again cannot make a second post.
   */
  createIsRepeatable?: boolean;
  /**
   * A post here is prepared at the network before the request that makes it (containers the network fetches and
   * processes, unseen until published): a scheduled post's preparation begins this long before its instant, and
   * the create waits for the instant, so the post appears on time rather than a processing time late.
   */
  prepareAheadSeconds?: number;
  /** Deletes one published part; absent → `DELETE /v1/posts/{id}/remote` reports `not_supported` for this network. */
  deletePart?(input: PublishContext & { part: PublishedPart }): Promise<void>;
  /**
   * Problems only the network can tell, asked with the account's token when a post is accepted or edited (TikTok's
   * `creator_info`: the privacy levels and longest video this creator may post; an unaudited app). Plain words, as
   * `check`. A failure to ask (thrown) is not a refusal: the post is accepted, and `publishPart` must check again
   * anyway, since a scheduled post goes out later than it was checked.
   */
  checkAtNetwork?(input: PublishContext & { containers: PublishContainer[] }): Promise<string[]>;
  /**
   * What this account may choose for a post, read from the network for a client to offer
   * (`GET /v1/social-accounts/{id}/publishing-options`): TikTok's privacy levels and switches, Pinterest's boards,
   * YouTube's categories, Instagram's posts left today. JSON, never secrets. Errors: `PublishError`.
   */
  describeOptions?(input: AccountCallContext): Promise<Record<string, unknown>>;
}

/** A call for one account outside a post: its organization's app and current token. */
export type AccountCallContext = Omit<PublishContext, 'options'>;

/** Counts an account's audience and activity, as `GET /v1/social-accounts/{id}/metrics` shows them (Outstand's shape). */
export interface AccountMetrics {
  followersCount: number | null;
  followingCount: number | null;
  postsCount: number | null;
  /** Interactions in the period, where the network reports them (absent keys: not reported); null when none are. */
  engagement: Partial<Record<'likes' | 'comments' | 'shares' | 'saves' | 'views' | 'impressions' | 'reach' | 'clicks', number>> | null;
  /** Whatever else the network reports, under its own names (Page fans, channel views, video count…). */
  platformSpecific: Record<string, unknown>;
}

export interface NetworkMetrics {
  /**
   * The account's counts now and its engagement between `since` and `until`. Errors: `PublishError`, its category
   * saying what a caller can do (`rate_limited`/`quota_exhausted` with `retryAfterSeconds`, `permission_missing`
   * naming the scope, `auth_expired`).
   */
  read(input: AccountCallContext & { since: Date; until: Date }): Promise<AccountMetrics>;
}

/** Calling the network directly (`/v1/social-accounts/{id}/proxy/{path}`): where, and how the token is applied. */
export interface NetworkApi {
  /** The origin the proxy forwards to (`https://api.x.com`); `{path}` is appended to it. Nothing else is reachable. */
  origin: string;
  /**
   * The origin for this account, when it is not the same for every account (Bluesky: each account's own PDS, named
   * in its DID document). It replaces `origin` for that account's calls. `callerChosenHost`: the host came from data
   * the account holder controls, so the proxy must send with `callerChosenHost` (public addresses only).
   */
  originFor?(account: PublishAccount): { origin: string; callerChosenHost: boolean };
  /** Headers and query parameters the account's token adds (default: `Authorization: Bearer`). */
  authorize?(input: { accessToken: string; app: AppCredentials }): { headers?: Record<string, string>; query?: Record<string, string> };
  /** Headers every call needs (LinkedIn's version headers). */
  headers?: Record<string, string>;
}

/** Why a target failed (PRODUCT.md, "Delivery"): what the engine does next depends only on this. */
export const ERROR_CATEGORIES = [
  /** The token is dead: refresh once, then the account needs a person to reconnect. */
  'auth_expired',
  'permission_missing',
  /** Retried at the network's reset time. */
  'rate_limited',
  /** A daily or plan cap: retried only after the window. */
  'quota_exhausted',
  /** The content itself: needs an edit. */
  'user_content',
  'duplicate',
  /** The network could not fetch our media URL. Retried a few times. */
  'media_unreachable',
  'app_not_approved',
  'platform_rejected',
  /** The network failed (5xx, timeouts): retried with backoff. */
  'platform_error',
  'not_supported',
  /** The network may or may not have published; not retried, so that nothing is posted twice. */
  'unknown_outcome',
] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/**
 * Categories the engine tries again (with backoff, or at the network's reset time). `quota_exhausted` only when the
 * adapter says when the window ends (`retryAfterSeconds`): a cap with no known end needs a person.
 */
export const RETRIED_CATEGORIES: ReadonlySet<ErrorCategory> = new Set(['rate_limited', 'platform_error', 'media_unreachable', 'quota_exhausted']);

/** A network's refusal or failure, classified by the adapter from the network's own error body. */
export class PublishError extends Error {
  readonly retryAfterSeconds: number | undefined;
  readonly platformCode: string | undefined;
  constructor(
    readonly category: ErrorCategory,
    /** The network's own words, safe to show the user. */
    message: string,
    opts: { retryAfterSeconds?: number; platformCode?: string | number } = {},
  ) {
    super(message);
    this.name = 'PublishError';
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.platformCode = opts.platformCode === undefined ? undefined : String(opts.platformCode);
  }
}
