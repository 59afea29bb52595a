// Bluesky (AT Protocol) — app-password sessions ("legacy" session auth), not OAuth. Bluesky's docs (verified):
//
//   Identity       A handle (`alice.bsky.social`, or any domain) names a DID; the DID document names the account's
//                  PDS (its home server). The handle spec resolves through DNS TXT `_atproto.<handle>` or
//                  `https://<handle>/.well-known/atproto-did`; a server that cannot do DNS itself asks a resolver
//                  that does both: GET https://bsky.social/xrpc/com.atproto.identity.resolveHandle?handle=… → {did}
//                  (400 {"error": "InvalidRequest", "message": "Unable to resolve handle"} when none).
//                  https://atproto.com/specs/handle   https://docs.bsky.app/docs/api/com-atproto-identity-resolve-handle
//                  DID document: did:plc → GET https://plc.directory/{did}; did:web → https://{host}/.well-known/did.json.
//                  The PDS is the `service` entry with id `#atproto_pds` (type AtprotoPersonalDataServer); the
//                  document's `alsoKnownAs` must list `at://<handle>` for the handle to be valid both ways.
//                  https://atproto.com/specs/did
//   Sessions       Accounts hosted by Bluesky (PDS hosts `*.host.bsky.network`) sign in, refresh and log out at the
//                  entryway https://bsky.social, which holds their passwords and issues their refresh JWTs (`aud`
//                  did:web:bsky.social); their data lives on the PDS. A self-hosted PDS does both itself.
//                  https://github.com/bluesky-social/atproto/pull/1818 (clients switch from entryway to PDS)
//   Login          POST {session service}/xrpc/com.atproto.server.createSession  JSON {identifier (handle, DID or email), password}
//                  → {did, handle, accessJwt, refreshJwt, active}. With an app password (Settings → Privacy and
//                  security → App passwords, `xxxx-xxxx-xxxx-xxxx`) no email 2FA code is asked; an account password
//                  with 2FA answers 401 {"error": "AuthFactorTokenRequired"}. A wrong password: 401
//                  {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}.
//                  Rate limits per account: 30 per 5 minutes, 300 per day (429 "RateLimitExceeded" with
//                  `ratelimit-reset`, epoch seconds). So sessions are kept and refreshed, and a new one is created
//                  only when the refresh JWT is dead.
//                  https://docs.bsky.app/docs/api/com-atproto-server-create-session
//                  https://docs.bsky.app/docs/advanced-guides/rate-limits
//   Refresh        POST {session service}/xrpc/com.atproto.server.refreshSession  Authorization: Bearer <refreshJwt> → a new pair;
//                  the old refresh JWT is dead from then on (rotation). A dead, expired or revoked one answers 400
//                  {"error": "ExpiredToken" | "InvalidToken"}. Lifetimes are not documented: they are read from each
//                  JWT's `exp` claim (the PDS issues about 2 hours for access, 90 days for refresh).
//                  https://docs.bsky.app/docs/api/com-atproto-server-refresh-session
//   Session check  GET  {session service}/xrpc/com.atproto.server.getSession  Bearer <accessJwt> → {did, handle}
//   Logout         POST {session service}/xrpc/com.atproto.server.deleteSession  Bearer <refreshJwt>
//                  https://docs.bsky.app/docs/api/com-atproto-server-delete-session
//   Profile        GET  https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor={did} → {did, handle,
//                  displayName, avatar} (the public AppView: no authentication).
//   Errors         XRPC: {error, message}. 401 / ExpiredToken / InvalidToken = the session is dead;
//                  AccountTakedown, AccountDeactivated = the account cannot be used; 429 and 5xx = try later.
//                  https://atproto.com/specs/xrpc
//
// Caller-chosen hosts: a did:web DID names its own host, and any DID document names its own PDS. Those hosts are
// the account holder's choice, so requests to them are guarded (public addresses only, `upstream.ts`), a PDS must
// be https, and their error text is never repeated to our caller (only the HTTP status and the XRPC error name).
// did:web here is what atproto supports: a host name, with a port only as `%3A<port>` (https://atproto.com/specs/did);
// any other percent-encoding (`%2F`, `%3F`, …) could pick a path or query on that host and is refused.
//
// AT Protocol OAuth (PAR + DPoP + PKCE, client metadata at an HTTPS URL) is the newer way to connect; this adapter
// does not speak it yet: an account connects with its handle and an app password (`POST /v1/social-accounts/bluesky`).
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamClient, type UpstreamResponse } from '../upstream.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

export const ENTRYWAY = 'https://bsky.social';
const RESOLVE_HANDLE_URL = `${ENTRYWAY}/xrpc/com.atproto.identity.resolveHandle`;
const PLC_DIRECTORY = 'https://plc.directory';
const PROFILE_URL = 'https://public.api.bsky.app/xrpc/app.bsky.actor.getProfile';

/** Used only when a JWT carries no readable `exp` (the PDS's usual lifetimes). */
const ACCESS_JWT_SECONDS = 2 * 3600;
const REFRESH_JWT_SECONDS = 90 * 24 * 3600;

const APP_PASSWORD_ONLY =
  'Bluesky connects with an app password, not through a sign-in page: send the handle and an app password to POST /v1/social-accounts/bluesky';
const USE_AN_APP_PASSWORD =
  'Bluesky asked for the sign-in code it emailed, because this is the account password of an account with two-factor ' +
  'authentication. Use an app password instead (app passwords never need the code): create one in Bluesky under ' +
  'Settings → Privacy and security → App passwords.';
const PASSWORD_REVOKED = 'Bluesky no longer accepts the app password this account was connected with (it was deleted or changed): connect it again with a new app password';

/** `did:web:<host>` or `did:web:<host>%3A<port>` (lower-case host name labels; no path, no other encoding). */
export const DID_WEB = /^did:web:((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:%3a([0-9]{1,5}))?$/i;
export const DID_WEB_PROBLEM = 'a did:web DID names a host, with a port only as %3A<port>: paths and other encoded characters (%2F, %3F, …) are refused';

/** The https origin whose `/.well-known/did.json` is a did:web DID's document, or undefined for a malformed one. */
export function didWebOrigin(did: string): string | undefined {
  const match = DID_WEB.exec(did);
  if (!match) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return `https://${match[1].toLowerCase()}${port ? `:${port}` : ''}`;
}

const Session = z.object({ did: z.string(), handle: z.string(), accessJwt: z.string().min(1), refreshJwt: z.string().min(1) });
const ResolvedHandle = z.object({ did: z.string().startsWith('did:') });
const DidDocument = z.object({
  id: z.string(),
  alsoKnownAs: z.array(z.string()).optional(),
  service: z.array(z.object({ id: z.string(), type: z.string().optional(), serviceEndpoint: z.unknown() })).optional(),
});
const Profile = z.object({ did: z.string(), handle: z.string(), displayName: z.string().optional(), avatar: z.string().optional() });
const XrpcError = z.object({ error: z.string().optional(), message: z.string().optional() });

/** The account a handle names, and where it lives. */
export interface BlueskyIdentity {
  did: string;
  handle: string;
  /** The account's PDS origin, e.g. `https://morel.us-east.host.bsky.network`. */
  pds: string;
}

/** Bluesky's XRPC calls, shared by the adapter and the app-password connection route. */
export function createBlueskyClient(upstream: UpstreamClient) {
  /** `callerChosenHost`: the URL's host came from a DID or a DID document, not from Bluesky's own hosts. */
  async function xrpc<T>(schema: z.ZodType<T>, url: string, init: NonNullable<Parameters<UpstreamClient['request']>[1]>): Promise<T> {
    const res = await upstream.request(url, init);
    if (res.status !== 200) throw xrpcError(res, Boolean(init.callerChosenHost));
    return parse(schema, res);
  }

  async function didDocument(did: string) {
    if (did.startsWith('did:plc:')) return xrpc(DidDocument, `${PLC_DIRECTORY}/${did}`, {});
    const origin = didWebOrigin(did);
    if (origin) return xrpc(DidDocument, `${origin}/.well-known/did.json`, { callerChosenHost: true });
    if (did.startsWith('did:web:')) throw new NetworkError('rejected', 'invalid_request', `${did} is not a DID we resolve: ${DID_WEB_PROBLEM}`);
    throw new NetworkError('rejected', 'invalid_request', `Bluesky accounts are did:plc or did:web, not ${did}`);
  }

  /** Session calls: at Bluesky's entryway for the PDS hosts it runs, else at the account's own (caller-chosen) PDS. */
  function sessionCall<T>(schema: z.ZodType<T>, pds: string, method: string, init: NonNullable<Parameters<UpstreamClient['request']>[1]>) {
    const service = sessionService(pds);
    return xrpc(schema, `${service}/xrpc/${method}`, { ...init, callerChosenHost: service !== ENTRYWAY });
  }

  return {
    /** Handle (or DID) → DID → DID document → PDS. A handle must be confirmed by its DID document. */
    async resolve(handleOrDid: string): Promise<BlueskyIdentity> {
      const given = handleOrDid.replace(/^@/, '').toLowerCase();
      const did = given.startsWith('did:') ? given : await resolveHandle(given);
      const doc = await didDocument(did);
      const handles = (doc.alsoKnownAs ?? []).filter((a) => a.startsWith('at://')).map((a) => a.slice(5).toLowerCase());
      if (!given.startsWith('did:') && !handles.includes(given)) {
        throw new NetworkError('rejected', 'not_found', `The Bluesky handle ${given} is not confirmed by its account (${did})`);
      }
      const pds = doc.service?.find((s) => s.id === '#atproto_pds' || s.id === `${did}#atproto_pds`)?.serviceEndpoint;
      if (typeof pds !== 'string') throw new NetworkError('rejected', 'invalid_request', `The Bluesky account ${did} names no PDS (home server)`);
      // Refused before anything is sent there: the document's author chose this host.
      const problem = upstream.callerUrlProblem(pds);
      if (problem) throw new NetworkError('rejected', 'destination_refused', `The Bluesky account ${did} names a home server (PDS) that ${problem}, so it is not contacted`);
      return { did, handle: handles[0] ?? given, pds: new URL(pds).origin };
    },

    /** A new session from the app password: counts against createSession's limits (30 / 5 min, 300 / day). */
    async createSession(identity: Pick<BlueskyIdentity, 'did' | 'pds'>, appPassword: string): Promise<TokenSet> {
      const session = await sessionCall(Session, identity.pds, 'com.atproto.server.createSession', {
        json: { identifier: identity.did, password: appPassword },
      });
      // The PDS answered for someone else: never store another account's session under this one.
      if (session.did !== identity.did) throw new NetworkError('rejected', 'invalid_request', `Bluesky signed in ${session.did} instead of ${identity.did}`);
      return { ...sessionTokens(session), credential: appPassword };
    },

    async refreshSession(pds: string, refreshJwt: string): Promise<TokenSet> {
      return sessionTokens(await sessionCall(Session, pds, 'com.atproto.server.refreshSession', { method: 'POST', bearer: refreshJwt }));
    },

    async getSession(pds: string, accessJwt: string) {
      return sessionCall(z.object({ did: z.string() }), pds, 'com.atproto.server.getSession', { bearer: accessJwt });
    },

    async deleteSession(pds: string, refreshJwt: string) {
      const service = sessionService(pds);
      const callerChosenHost = service !== ENTRYWAY;
      const res = await upstream.request(`${service}/xrpc/com.atproto.server.deleteSession`, { method: 'POST', bearer: refreshJwt, callerChosenHost });
      // A session that is already dead has nothing left to end.
      if (res.status !== 200 && classifyStatus(res.status) === 'transient') throw xrpcError(res, callerChosenHost);
    },

    /** The DID a handle names, or undefined when no account has it (a mention of it stays plain text). */
    async handleDid(handle: string): Promise<string | undefined> {
      const res = await upstream.request(RESOLVE_HANDLE_URL, { query: { handle } });
      if (res.status === 400) return undefined;
      if (res.status !== 200) throw xrpcError(res, false);
      return parse(ResolvedHandle, res).did;
    },

    async profile(did: string) {
      return xrpc(Profile, PROFILE_URL, { query: { actor: did } });
    },
  };

  async function resolveHandle(handle: string): Promise<string> {
    const res = await upstream.request(RESOLVE_HANDLE_URL, { query: { handle } });
    if (res.status === 400) throw new NetworkError('rejected', 'not_found', `No Bluesky account has the handle ${handle}: check its spelling`);
    if (res.status !== 200) throw xrpcError(res, false);
    return parse(ResolvedHandle, res).did;
  }
}

export type BlueskyClient = ReturnType<typeof createBlueskyClient>;

/** The account a session belongs to, as it will be stored (the app password rides along, encrypted). */
export async function blueskyProfile(client: BlueskyClient, identity: BlueskyIdentity, tokens: TokenSet): Promise<ConnectableProfile> {
  const profile = await client.profile(identity.did);
  return {
    networkUniqueId: identity.did,
    username: profile.handle,
    nickname: profile.displayName || null,
    profilePictureUrl: profile.avatar ?? null,
    accountType: 'personal',
    tokens,
    metadata: { did: identity.did, pds: identity.pds },
  };
}

/** The connection half of the adapter (app-password sessions); `index.ts` adds publishing and the proxy. */
export function createBlueskyConnection(ctx: AdapterContext): NetworkAdapter {
  const client = createBlueskyClient(ctx.upstream);

  return {
    network: 'bluesky',
    displayName: 'Bluesky',
    usesPkce: false,
    connection: 'app_password',
    defaultScopes: [],

    authorizationUrl() {
      throw new NetworkError('rejected', 'unsupported_response_type', APP_PASSWORD_ONLY);
    },

    async exchangeCode() {
      throw new NetworkError('rejected', 'unsupported_grant_type', APP_PASSWORD_ONLY);
    },

    async fetchProfiles() {
      throw new NetworkError('rejected', 'unsupported_grant_type', APP_PASSWORD_ONLY);
    },

    async verify({ accessToken, metadata }) {
      await client.getSession(pdsOf(metadata), accessToken);
    },

    canRefresh(tokens) {
      return Boolean(tokens.refreshToken || tokens.credential);
    },

    async refresh({ tokens, metadata }) {
      const pds = pdsOf(metadata);
      if (tokens.refreshToken) {
        try {
          return await client.refreshSession(pds, tokens.refreshToken);
        } catch (err) {
          if (!(err instanceof NetworkError) || err.kind !== 'permanent') throw err;
        }
      }
      // The refresh JWT is dead (expired, rotated elsewhere, or ended at Bluesky): start a new session from the app
      // password so the account stays connected. Only here, because of createSession's per-account limits.
      if (!tokens.credential) throw new NetworkError('permanent', 'invalid_grant', 'The Bluesky session ended: connect the account again with an app password');
      try {
        return await client.createSession({ did: didOf(metadata), pds }, tokens.credential);
      } catch (err) {
        // Anything but an outage means a person must act: the password was deleted, or the account was suspended.
        if (!(err instanceof NetworkError) || err.kind === 'transient') throw err;
        const why = err.code === 'AuthenticationRequired' ? PASSWORD_REVOKED : 'Bluesky refused to start a new session for this account';
        throw new NetworkError('permanent', 'invalid_grant', `${why} (${err.description})`);
      }
    },

    async revoke({ tokens, metadata }) {
      if (tokens.refreshToken) await client.deleteSession(pdsOf(metadata), tokens.refreshToken);
    },
  };
}

/** Where an account's sessions are made: Bluesky's entryway for the PDS hosts it runs, else the PDS itself. */
function sessionService(pds: string): string {
  return isBlueskyHostedPds(pds) ? ENTRYWAY : pds;
}

/** Whether a PDS is one of Bluesky's own hosts (`*.host.bsky.network`), whose words we may repeat to our caller. */
export function isBlueskyHostedPds(pds: string): boolean {
  return new URL(pds).hostname.endsWith('.host.bsky.network');
}

function sessionTokens(session: z.infer<typeof Session>): TokenSet {
  return {
    accessToken: session.accessJwt,
    refreshToken: session.refreshJwt,
    expiresAt: jwtExpiry(session.accessJwt, ACCESS_JWT_SECONDS),
    refreshTokenExpiresAt: jwtExpiry(session.refreshJwt, REFRESH_JWT_SECONDS),
  };
}

/** A JWT's `exp` claim (it is only read, never trusted for anything but scheduling), or the default lifetime. */
function jwtExpiry(jwt: string, defaultSeconds: number): Date {
  try {
    const exp = Number(JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')).exp);
    if (Number.isFinite(exp) && exp > 0) return new Date(exp * 1000);
  } catch {
    // Not a JWT we can read: fall through to the default.
  }
  return new Date(Date.now() + defaultSeconds * 1000);
}

export function pdsOf(metadata: Record<string, unknown>): string {
  if (typeof metadata.pds === 'string') return metadata.pds;
  throw new NetworkError('permanent', 'invalid_grant', 'This Bluesky account has no home server on record: connect it again');
}

export function didOf(metadata: Record<string, unknown>): string {
  if (typeof metadata.did === 'string') return metadata.did;
  throw new NetworkError('permanent', 'invalid_grant', 'This Bluesky account has no DID on record: connect it again');
}

function parse<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new NetworkError('transient', 'server_error', 'Bluesky sent an answer we could not read');
  return parsed.data;
}

/** Seconds until a Bluesky rate-limit window reopens (`ratelimit-reset` is an epoch time in seconds). */
export function rateLimitWait(res: UpstreamResponse): number | undefined {
  const reset = Number(res.headers.get('ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, Math.ceil(reset - Date.now() / 1000));
  return retryAfterSeconds(res.headers);
}

/**
 * XRPC errors, keeping Bluesky's error name as the code: a dead session (401, ExpiredToken, InvalidToken) is
 * permanent; 2FA, takedowns and the like are refusals the user must act on; 429 and 5xx are temporary.
 * `callerChosenHost`: the answer came from a host the account holder chose, whose words we do not repeat.
 */
function xrpcError(res: UpstreamResponse, callerChosenHost: boolean): NetworkError {
  const parsed = XrpcError.safeParse(res.body).data ?? {};
  // An XRPC error name is an identifier; anything else in that field is not one and is dropped.
  const error = parsed.error && /^[A-Za-z]{1,64}$/.test(parsed.error) ? parsed.error : undefined;
  const description = callerChosenHost
    ? `The account's home server refused the request (HTTP ${res.status}${error ? `, ${error}` : ''})`
    : (parsed.message ?? error ?? `Bluesky refused the request (HTTP ${res.status})`);
  if (classifyStatus(res.status) === 'transient') return new NetworkError('transient', 'temporarily_unavailable', description, rateLimitWait(res));
  if (error === 'AuthFactorTokenRequired') return new NetworkError('rejected', error, USE_AN_APP_PASSWORD);
  if (error === 'ExpiredToken' || error === 'InvalidToken' || res.status === 401) return new NetworkError('permanent', error ?? 'AuthenticationRequired', description);
  return new NetworkError('rejected', error ?? 'invalid_request', description);
}
