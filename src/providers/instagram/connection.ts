// Instagram, connection — professional (Business or Creator) accounts, connected one of two ways, chosen per organization with
// `options: {"login": "facebook" | "instagram"}` (default "facebook"). Meta's docs (verified):
//
// Through Facebook Login ("Instagram API with Facebook Login"; Ocoya's authProvider "facebook")
//   https://developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login
//   Facebook's dialog, code exchange and long-lived user token exactly as in facebook/connection.ts (every graph.facebook.com
//   call with its appsecret_proof, at the operator's Graph version), with the scopes instagram_basic,
//   instagram_content_publish, pages_show_list, pages_read_engagement, business_management.
//   Business Manager: "If the app user was granted a role on the Page via the Business Manager, you will also need
//              one of: ads_management, ads_read" to publish (IG User Media Publish, Requirements,
//              https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media_publish).
//              Not asked by default — both need App Review for an ads use case most apps do not have; an
//              organization whose customers hold Pages through a Business Manager adds "ads_read" to `scopes`.
//   Accounts   GET graph.facebook.com/{version}/me/accounts?fields=…,instagram_business_account (paged) → the Pages
//              with a linked Instagram account; GET /{ig-user-id}?fields=id,username,name,profile_picture_url.
//              Each Instagram account is used with its Page's token (no expiry; dies with the user's grant).
//              An account that is personal, or not linked to a Page, never appears: say so in plain words.
//
// Through Instagram Login ("Instagram API with Instagram Login", Business Login for Instagram; no Page needed)
//   Authorization GET  www.instagram.com/oauth/authorize  client_id (the Instagram app id), redirect_uri (exact),
//                      response_type=code, scope (comma-separated), state
//                      https://developers.facebook.com/docs/instagram-platform/reference/oauth-authorize
//                      → redirect_uri?code&state#_ — "#_" is not part of the code; strip it if it came along.
//   Token         POST api.instagram.com/oauth/access_token  form: client_id, client_secret,
//                      grant_type=authorization_code, redirect_uri, code → a 1-hour token as
//                      {access_token, user_id, permissions} or wrapped as {data: [{…}]} (both are read)
//                      https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login
//   Long-lived    GET  graph.instagram.com/access_token?grant_type=ig_exchange_token&client_secret&access_token
//                      → {access_token, token_type, expires_in} (60 days)
//                      https://developers.facebook.com/docs/instagram-platform/reference/access_token
//   Refresh       GET  graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token&access_token — only for
//                      a token at least 24 hours old and unexpired; valid 60 days from the refresh. The returned
//                      token is always stored. https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token
//   Profile       GET  graph.instagram.com/{version}/me?fields=user_id,username,name,profile_picture_url,account_type
//   Proof         Instagram Login documents no appsecret_proof (only graph.facebook.com does): none is sent.
//   Limits        Instagram Platform calls are under Business Use Case rate limits (code 80002 and the
//                 X-Business-Use-Case-Usage header, meta-graph.ts): a throttled refresh is tried again later.
//                 https://developers.facebook.com/docs/graph-api/overview/rate-limiting
//   Revocation    none documented: a disconnect only forgets the token (the person removes the app in Instagram's
//                 settings). Through Facebook Login the accounts hold Page tokens, and revoking the user's grant
//                 would disconnect every other account of that login, so nothing is revoked there either.
//   Limits        Instagram Login needs a professional account; both ways need App Review (Advanced Access)
//                 before people without a role on the app can grant the publishing permissions.
//   Publishing    beside it (publishing.ts); index.ts puts the two together.
import { z } from 'zod';
import { AccessTokenResponse, facebookDialogError, LONG_LIVED_SECONDS, metaError, parseMeta, secretOf, type MetaGraph } from '../meta-graph.ts';
import { expiryFrom, NetworkError, type AccountType, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

export type Login = 'facebook' | 'instagram';

const FACEBOOK_LOGIN_SCOPES = ['instagram_basic', 'instagram_content_publish', 'pages_show_list', 'pages_read_engagement', 'business_management'] as const;
const INSTAGRAM_LOGIN_SCOPES = ['instagram_business_basic', 'instagram_business_content_publish'] as const;

const INSTAGRAM_WWW = 'https://www.instagram.com';
const INSTAGRAM_API = 'https://api.instagram.com';
export const INSTAGRAM_GRAPH = 'https://graph.instagram.com';

/** Instagram refuses to refresh a long-lived token younger than this. */
const MIN_REFRESH_AGE_MS = 24 * 3600 * 1000;

const Options = z.object({ login: z.enum(['facebook', 'instagram']).optional() });

const PageWithInstagram = z.object({
  id: z.string(),
  access_token: z.string().optional(),
  instagram_business_account: z.object({ id: z.string() }).optional(),
});
const BusinessAccount = z.object({
  id: z.string(),
  username: z.string().optional(),
  name: z.string().optional(),
  profile_picture_url: z.string().optional(),
});
const ShortLivedToken = z.object({
  access_token: z.string().min(1),
  user_id: z.union([z.string(), z.number()]).optional(),
  permissions: z.union([z.string(), z.array(z.string())]).optional(),
});
const CodeExchangeResponse = z.union([ShortLivedToken, z.object({ data: z.array(ShortLivedToken).min(1) })]);
const InstagramMe = z.object({
  user_id: z.union([z.string(), z.number()]).transform(String),
  username: z.string().optional(),
  name: z.string().optional(),
  profile_picture_url: z.string().optional(),
  account_type: z.string().optional(),
});

const NO_BUSINESS_ACCOUNT =
  'No Instagram business or creator account linked to a Facebook Page was shared. Switch the Instagram account to ' +
  'Business or Creator and link it to a Facebook Page, then connect again.';
const PERSONAL_ACCOUNT =
  'This Instagram account is a personal account. Switch it to a Business or Creator (professional) account in the ' +
  'Instagram app, then connect again.';

export function loginOf(options: Record<string, unknown>): Login {
  return options.login === 'instagram' ? 'instagram' : 'facebook';
}

/** The login an account was connected with: recorded on the account, so a later change of settings cannot confuse it. */
export function accountLogin(metadata: Record<string, unknown>, app: AppCredentials): Login {
  return metadata.login === 'facebook' || metadata.login === 'instagram' ? metadata.login : loginOf(app.options);
}

function permissionList(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : value.split(',')).map((p) => p.trim()).filter(Boolean);
}

function accountTypeOf(instagramType: string | undefined): AccountType {
  const type = (instagramType ?? 'BUSINESS').toUpperCase();
  if (type === 'BUSINESS') return 'business';
  if (type === 'MEDIA_CREATOR' || type === 'CREATOR') return 'creator';
  throw new NetworkError('rejected', 'access_denied', PERSONAL_ACCOUNT);
}

/** Everything of the adapter but publishing, metrics and the proxy. */
export type InstagramConnection = Omit<NetworkAdapter, 'publishing' | 'api' | 'metrics'>;

export function instagramConnection(ctx: AdapterContext, graph: MetaGraph): InstagramConnection {
  const { upstream } = ctx;
  const instagramMe = `${INSTAGRAM_GRAPH}/${graph.version}/me`;

  /** A token endpoint or API call on Instagram's own hosts. */
  async function instagramGet<T>(url: string, schema: z.ZodType<T>, req: { query?: Record<string, string>; bearer?: string }): Promise<T> {
    const res = await upstream.request(url, { method: 'GET', ...req });
    if (res.status !== 200) throw metaError(res, 'Instagram');
    return parseMeta(schema, res, 'Instagram');
  }

  async function instagramLogin(app: AppCredentials, code: string, redirectUri: string): Promise<TokenSet> {
    const secret = secretOf(app, 'Instagram');
    const res = await upstream.request(`${INSTAGRAM_API}/oauth/access_token`, {
      form: { client_id: app.clientId, client_secret: secret, grant_type: 'authorization_code', redirect_uri: redirectUri, code: code.replace(/#_$/, '') },
    });
    if (res.status !== 200) throw metaError(res, 'Instagram');
    const body = parseMeta(CodeExchangeResponse, res, 'Instagram');
    const short = 'data' in body ? body.data[0] : body;
    const scopes = permissionList(short.permissions);
    const declined = scopes ? app.scopes.filter((s) => !scopes.includes(s)) : [];
    if (declined.length) {
      throw new NetworkError(
        'rejected',
        'access_denied',
        `Instagram did not grant ${declined.map((p) => `"${p}"`).join(', ')}. Connect again and allow every requested permission.`,
      );
    }
    const long = await instagramGet(`${INSTAGRAM_GRAPH}/access_token`, AccessTokenResponse, {
      query: { grant_type: 'ig_exchange_token', client_secret: secret, access_token: short.access_token },
    });
    return { accessToken: long.access_token, expiresAt: expiryFrom(long.expires_in, LONG_LIVED_SECONDS), scopes, tokenType: long.token_type };
  }

  async function facebookLoginAccounts(app: AppCredentials, tokens: TokenSet): Promise<ConnectableProfile[]> {
    const scopes = await graph.grantedPermissions(app, tokens.accessToken, 'Instagram');
    const pages = await graph.getAll(app, 'me/accounts', tokens.accessToken, PageWithInstagram, {
      fields: 'id,name,access_token,instagram_business_account',
    });
    const profiles: ConnectableProfile[] = [];
    for (const page of pages) {
      const igId = page.instagram_business_account?.id;
      if (!igId || !page.access_token || profiles.some((p) => p.networkUniqueId === igId)) continue;
      const account = await graph.get(app, encodeURIComponent(igId), page.access_token, BusinessAccount, {
        fields: 'id,username,name,profile_picture_url',
      });
      profiles.push({
        networkUniqueId: account.id,
        username: account.username ?? null,
        nickname: account.name ?? account.username ?? null,
        profilePictureUrl: account.profile_picture_url ?? null,
        accountType: 'business',
        tokens: { accessToken: page.access_token, expiresAt: null, scopes },
        metadata: { login: 'facebook', pageId: page.id },
      });
    }
    if (profiles.length === 0) throw new NetworkError('rejected', 'access_denied', NO_BUSINESS_ACCOUNT);
    return profiles;
  }

  async function instagramLoginAccount(tokens: TokenSet): Promise<ConnectableProfile> {
    const me = await instagramGet(instagramMe, InstagramMe, {
      bearer: tokens.accessToken,
      query: { fields: 'user_id,username,name,profile_picture_url,account_type' },
    });
    return {
      networkUniqueId: me.user_id,
      username: me.username ?? null,
      nickname: me.name ?? me.username ?? null,
      profilePictureUrl: me.profile_picture_url ?? null,
      accountType: accountTypeOf(me.account_type),
      tokens,
      metadata: { login: 'instagram' },
    };
  }

  return {
    network: 'instagram',
    displayName: 'Instagram',
    usesPkce: false,
    defaultScopes: FACEBOOK_LOGIN_SCOPES,
    optionsSchema: Options,

    loginNetwork(app) {
      return loginOf(app.options);
    },

    scopesFor(options) {
      return loginOf(options) === 'instagram' ? INSTAGRAM_LOGIN_SCOPES : FACEBOOK_LOGIN_SCOPES;
    },

    authorizationUrl({ app, redirectUri, state }) {
      if (loginOf(app.options) === 'facebook') return graph.dialogUrl({ app, redirectUri, state });
      const url = new URL(`${INSTAGRAM_WWW}/oauth/authorize`);
      url.search = new URLSearchParams({
        client_id: app.clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: app.scopes.join(','),
        state,
      }).toString();
      return upstream.rewrite(url.toString());
    },

    callbackError: facebookDialogError,

    exchangeCode({ app, code, redirectUri }) {
      return loginOf(app.options) === 'facebook' ? graph.login({ app, code, redirectUri }) : instagramLogin(app, code, redirectUri);
    },

    async fetchProfiles({ app, tokens }) {
      return loginOf(app.options) === 'facebook' ? facebookLoginAccounts(app, tokens) : [await instagramLoginAccount(tokens)];
    },

    async verify({ app, accessToken, metadata }) {
      if (accountLogin(metadata, app) === 'instagram') {
        await instagramGet(instagramMe, InstagramMe, { bearer: accessToken, query: { fields: 'user_id' } });
      } else {
        await graph.get(app, 'me', accessToken, z.object({ id: z.string() }), { fields: 'id' });
      }
    },

    // Instagram Login renews the 60-day token itself (ig_refresh_token); Facebook Login accounts hold Page tokens.
    canRefresh: (_tokens, metadata) => metadata.login === 'instagram',

    async refresh({ app, tokens, metadata }) {
      if (accountLogin(metadata, app) === 'facebook') {
        // Accounts connected through Facebook Login hold their Page's token: no expiry, and no renewal either.
        throw new NetworkError('permanent', 'invalid_grant', 'This Instagram account\'s Facebook Page token can no longer be used: reconnect the account.');
      }
      // Instagram refuses tokens younger than a day; until then the current one is the freshest there is.
      const issuedAt = tokens.expiresAt ? tokens.expiresAt.getTime() - LONG_LIVED_SECONDS * 1000 : 0;
      if (Date.now() - issuedAt < MIN_REFRESH_AGE_MS) return tokens;
      const fresh = await instagramGet(`${INSTAGRAM_GRAPH}/refresh_access_token`, AccessTokenResponse, {
        query: { grant_type: 'ig_refresh_token', access_token: tokens.accessToken },
      });
      return { accessToken: fresh.access_token, expiresAt: expiryFrom(fresh.expires_in, LONG_LIVED_SECONDS), scopes: tokens.scopes, tokenType: fresh.token_type };
    },
  };
}
