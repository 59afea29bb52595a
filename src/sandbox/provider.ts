// The oidc-provider instance behind the sandbox network: one confidential client, authorization code + PKCE,
// opaque 1-hour access tokens, rotating 30-day refresh tokens, storage in the database.
import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC, errors, interactionPolicy } from 'oidc-provider';
import type { Db } from '../db/database.ts';
import { drizzleOidcAdapter } from './oidc-adapter.ts';
import { errorPage, PAGE_CSP } from './pages.ts';

/** Where the sandbox lives under PUBLIC_URL; its issuer is `${publicUrl}${SANDBOX_PATH}`. */
export const SANDBOX_PATH = '/sandbox';

/**
 * What a client may ask for. `openid` is not needed: oidc-provider 8 runs a plain OAuth 2.0 code flow when it is
 * absent (it only insists on it for ID-token response types and OIDC-only parameters such as `nonce`).
 */
export const SANDBOX_SCOPES = ['profile', 'pages.read', 'posts.write', 'offline_access'];

const HOUR = 60 * 60;
const DAY = 24 * HOUR;

export interface SandboxProviderOptions {
  publicUrl: string;
  db: Db;
  client: { clientId: string; clientSecret: string; redirectUris: string[] };
  secrets: SandboxSecrets;
}

export interface SandboxSecrets {
  /** oidc-provider's signed-cookie keys (the first signs). */
  cookieKeys: string[];
  /** HMAC key of page tokens (page-tokens.ts). */
  pageTokenKey: Buffer;
  /** 32 bytes: the Ed25519 signing key. */
  signingKeySeed: Buffer;
}

type OidcProviderModule = typeof import('oidc-provider');

/**
 * Loads oidc-provider here, not at start: importing it takes ~1 s of CPU and ~20 MiB (bench/footprint.ts), which
 * an installation that never opens the sandbox should not pay. The first `/sandbox` request waits for it.
 */
export async function createSandboxProvider(opts: SandboxProviderOptions): Promise<Provider> {
  const oidc = await import('oidc-provider');
  const provider = new oidc.default(`${opts.publicUrl}${SANDBOX_PATH}`, configuration(opts, oidc));
  // Requests reach the provider with the forwarded headers `presentAsPublicUrl` sets, so every URL it builds
  // (redirects, discovery) and the Secure flag of its cookies follow PUBLIC_URL, never the request's Host.
  provider.proxy = true;
  exposeGrantErrorDetail(provider, oidc.errors);
  return provider;
}

/** A getter of the one provider of a server: made on the first call, the same promise after. */
export type SandboxProvider = () => Promise<Provider>;

export function lazySandboxProvider(make: () => Promise<Provider>): SandboxProvider {
  let made: Promise<Provider> | undefined;
  return () => (made ??= make());
}

/** Makes oidc-provider see the request as addressed to PUBLIC_URL (with `provider.proxy` on). */
export function presentAsPublicUrl(req: IncomingMessage, publicUrl: string): void {
  const url = new URL(publicUrl);
  req.headers['x-forwarded-host'] = url.host;
  req.headers['x-forwarded-proto'] = url.protocol.slice(0, -1);
}

function configuration(opts: SandboxProviderOptions, oidc: OidcProviderModule): Configuration {
  return {
    adapter: drizzleOidcAdapter(opts.db, oidc.errors),
    clients: [
      {
        client_id: opts.client.clientId,
        client_secret: opts.client.clientSecret,
        redirect_uris: opts.client.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        // Our only signing key is Ed25519 (see `signingKey`); ID tokens are issued only if `openid` is asked for.
        id_token_signed_response_alg: 'EdDSA',
      },
    ],
    jwks: { keys: [signingKey(opts.secrets.signingKeySeed)] },
    cookies: {
      keys: opts.secrets.cookieKeys,
      // Lax everywhere: the sandbox is only ever reached by top-level navigation, and SameSite=None (the default
      // for the session cookie) is dropped by browsers on plain-HTTP development set-ups.
      long: { httpOnly: true, sameSite: 'lax', signed: true, path: SANDBOX_PATH },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    // Anyone can be anyone in the sandbox: the username typed on the consent page is the account id.
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
    scopes: SANDBOX_SCOPES,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      // Profiles come from the sandbox's own API (`/sandbox/api/me`), like a social network's.
      userinfo: { enabled: false },
      resourceIndicators: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
    },
    pkce: { required: () => true, methods: ['S256'] },
    interactions: {
      url: (_ctx, interaction) => `${SANDBOX_PATH}/interaction/${interaction.uid}`,
      policy: alwaysAskPolicy(oidc.interactionPolicy),
    },
    // oidc-provider grants `offline_access` only with `prompt=consent`; a social network hands its client a refresh
    // token regardless, and the tokens must not die with the browser session the consent happened in.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: HOUR,
      AuthorizationCode: 60,
      IdToken: HOUR,
      Interaction: HOUR,
      // The browser session only carries one authorization to its end (see `alwaysAskPolicy`).
      Session: HOUR,
      RefreshToken: 30 * DAY,
      // A grant outlives any one refresh token: each rotation issues a fresh 30-day token within it.
      Grant: 365 * DAY,
    },
    renderError,
  };
}

/**
 * The consent page on every authorization, even in a browser with a live sandbox session: connecting is always a
 * deliberate choice of user (tests connect several sandbox users from one browser).
 */
function alwaysAskPolicy(interactionPolicy: OidcProviderModule['interactionPolicy']): interactionPolicy.Prompt[] {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check('sandbox_asks_every_time', 'The sandbox asks who is connecting on every authorization', (ctx) => !ctx.oidc.result?.login),
  );
  return policy;
}

/**
 * A stable Ed25519 signing key from a stored seed: identical in every process and across restarts, unlike a
 * generated key, and not oidc-provider's published development key.
 */
function signingKey(seed: Buffer): JsonWebKey {
  const pkcs8Ed25519Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  const key = createPrivateKey({ key: Buffer.concat([pkcs8Ed25519Prefix, seed]), format: 'der', type: 'pkcs8' });
  return { ...key.export({ format: 'jwk' }), use: 'sig', alg: 'EdDSA' };
}

/**
 * Real networks say why a grant was refused ("refresh token already used"); oidc-provider answers every
 * `invalid_grant` with "grant request is invalid" and keeps the reason in `error_detail`. The `grant.error`
 * event fires after the error body is set and before it is sent, so the reason can go into it.
 */
function exposeGrantErrorDetail(provider: Provider, errors: OidcProviderModule['errors']): void {
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError) => {
    const body = ctx.body as { error?: string } | undefined;
    if (err instanceof errors.InvalidGrant && err.error_detail && body?.error === 'invalid_grant') {
      ctx.body = { ...body, error_description: err.error_detail };
    }
  });
}

function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): void {
  ctx.type = 'html';
  ctx.set('content-security-policy', PAGE_CSP);
  ctx.body = errorPage('Something went wrong', out.error_description ?? out.error);
}
