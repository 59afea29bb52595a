// The contract every network adapter implements. The connection flow, the token engine and the API speak
// only this interface; nothing outside `providers/` knows a network's endpoints, parameter names or quirks.

import type { z } from 'zod';
import type { UpstreamClient } from './upstream.ts';
import type { NetworkApi, NetworkMetrics, NetworkPublishing } from './publishing-contract.ts';

export * from './publishing-contract.ts';

export const NETWORKS = [
  'facebook',
  'instagram',
  'x',
  'linkedin',
  'pinterest',
  'tiktok',
  'threads',
  'youtube',
  'google_business',
  'bluesky',
  'sandbox',
] as const;
export type NetworkId = (typeof NETWORKS)[number];

export const ACCOUNT_TYPES = ['personal', 'page', 'organization', 'business', 'creator', 'channel', 'location'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

/** API versions the operator pins for networks whose APIs are versioned per request (src/config.ts). */
export interface NetworkVersions {
  /** `LinkedIn-Version` of every /rest call, `YYYYMM` (SWITCHBOARD_LINKEDIN_VERSION). */
  linkedin: string;
  /** Graph API version of Facebook Login and graph.facebook.com / graph.instagram.com, `vNN.N` (SWITCHBOARD_META_GRAPH_VERSION). */
  metaGraph: string;
}

/** What every adapter factory gets: the one outbound client (it applies SWITCHBOARD_UPSTREAMS and timeouts) and the pinned API versions. */
export interface AdapterContext {
  upstream: UpstreamClient;
  versions: NetworkVersions;
}

/** The organization's own app at the network (`/v1/social-networks`), decrypted for the adapter's use only. */
export interface AppCredentials {
  clientId: string;
  clientSecret: string | undefined;
  scopes: string[];
  /** The organization's settings for this network, already validated by the adapter's `optionsSchema`. */
  options: Record<string, unknown>;
}

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Always set by the adapter: from `expires_in`, or the network's documented default. `null` = never expires. */
  expiresAt: Date | null;
  refreshTokenExpiresAt?: Date | null;
  scopes?: string[];
  tokenType?: string;
  /**
   * A reusable login credential (Bluesky's app password), kept encrypted beside the tokens, used only to start a
   * new session when the refresh token is dead. Never replaced by an absent one.
   */
  credential?: string;
}

/** One identity a login can connect: the user's own profile, or a Page/organization/channel they manage. */
export interface ConnectableProfile {
  networkUniqueId: string;
  username: string | null;
  nickname: string | null;
  profilePictureUrl: string | null;
  accountType: AccountType;
  /** The credentials this account will hold (a Page's own token, for instance). */
  tokens: TokenSet;
  /** Non-secret facts the adapter wants back later (e.g. the owning user id). */
  metadata?: Record<string, unknown>;
}

export interface AuthorizationUrlInput {
  app: AppCredentials;
  /** Our fixed callback for this network: `${PUBLIC_URL}/oauth/{network}/callback`. */
  redirectUri: string;
  state: string;
  /** PKCE S256 challenge, present when `usesPkce`. */
  codeChallenge?: string;
}

export interface CodeExchangeInput {
  app: AppCredentials;
  code: string;
  redirectUri: string;
  codeVerifier?: string;
  /** Every query parameter the network sent to the callback (some networks add their own). */
  callbackParams: Record<string, string>;
}

export interface NetworkAdapter {
  readonly network: NetworkId;
  /** Human name for pages and messages ("Facebook", "X"). */
  readonly displayName: string;
  readonly usesPkce: boolean;
  /**
   * How accounts connect: an OAuth redirect flow (the default), or credentials posted to the API (Bluesky's app
   * passwords, `POST /v1/social-accounts/bluesky`), which needs no app of the organization's at the network.
   */
  readonly connection?: 'oauth' | 'app_password';
  readonly defaultScopes: readonly string[];
  /**
   * Credentials to use when the organization configured none. Only a network that issues its own
   * (the sandbox) has them; every real network needs the organization's app.
   */
  readonly builtInApp?: { clientId: string; clientSecret: string };
  /** Settings an organization may give for this network (`options` of `/v1/social-networks`), if any. */
  readonly optionsSchema?: z.ZodType<Record<string, unknown>>;
  /** The network whose login the user sees, when it is another's (Instagram through Facebook Login). */
  loginNetwork?(app: AppCredentials): NetworkId;
  /** Default scopes for these settings, when they differ from `defaultScopes` (Instagram Login's own scopes). */
  scopesFor?(options: Record<string, unknown>): readonly string[];

  authorizationUrl(input: AuthorizationUrlInput): string;
  /**
   * A refusal the network reports on the callback in its own parameters rather than OAuth's `error` (Facebook's
   * `error_code` + `error_message`), in plain words; `undefined` when there is none.
   */
  callbackError?(params: Record<string, string>): NetworkError | undefined;
  exchangeCode(input: CodeExchangeInput): Promise<TokenSet>;
  /**
   * Every profile this login can connect, the login's own profile first. More than one → the user chooses.
   * Throws `NetworkError` with a plain-words `description` when there is nothing connectable.
   */
  fetchProfiles(input: { app: AppCredentials; tokens: TokenSet }): Promise<ConnectableProfile[]>;
  /** Checks an access token against the network's identity endpoint. */
  verify(input: { app: AppCredentials; accessToken: string; metadata: Record<string, unknown> }): Promise<void>;
  /**
   * Whether `refresh` can renew these tokens. Default: when there is a refresh token. Meta's networks re-exchange
   * the still-valid access token instead; a user who withheld X's `offline.access` has nothing to renew with.
   */
  canRefresh?(tokens: TokenSet, metadata: Record<string, unknown>): boolean;
  /** New tokens from the stored ones. Absent for networks whose tokens cannot be refreshed. */
  refresh?(input: { app: AppCredentials; tokens: TokenSet; metadata: Record<string, unknown> }): Promise<TokenSet>;
  revoke?(input: { app: AppCredentials; tokens: TokenSet; metadata: Record<string, unknown> }): Promise<void>;

  /** Publishing through this network's accounts (`publishing-contract.ts`); absent → a post targeting one is a 400. */
  readonly publishing?: NetworkPublishing;
  /** The network's API, for `/v1/social-accounts/{id}/proxy/{path}`; absent → the proxy answers 400 for it. */
  readonly api?: NetworkApi;
  /** The account's audience and activity (`/v1/social-accounts/{id}/metrics`); absent → every count is `null`. */
  readonly metrics?: NetworkMetrics;
}

/**
 * What went wrong at a network, classified:
 * - `permanent`: the grant is dead (revoked, `invalid_grant`); a person must reconnect;
 * - `transient`: try again later (timeouts, 5xx, 429);
 * - `rejected`: the request itself was refused (bad client credentials, misconfigured app, user declined).
 */
export type NetworkErrorKind = 'permanent' | 'transient' | 'rejected';

export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    /** OAuth-style code for redirects (`access_denied`, `invalid_grant`, `server_error`, `temporarily_unavailable`…). */
    readonly code: string,
    /** Plain words, safe to show the end user; carries the network's own error text. */
    readonly description: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(description);
    this.name = 'NetworkError';
  }
}

/** Converts a lifetime in seconds (from a token response) to an absolute expiry, with the network's default. */
export function expiryFrom(expiresIn: unknown, defaultSeconds: number | null, now = Date.now()): Date | null {
  const seconds = Number(expiresIn);
  if (Number.isFinite(seconds) && seconds > 0) return new Date(now + seconds * 1000);
  return defaultSeconds === null ? null : new Date(now + defaultSeconds * 1000);
}
