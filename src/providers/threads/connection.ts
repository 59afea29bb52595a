// Threads — the Threads API of a Meta app with the Threads use case (its own "Threads app ID" and secret, not the
// Facebook app's). Meta's docs (verified):
//
//   Authorization  GET  https://threads.com/oauth/authorize   client_id (the Threads app ID), redirect_uri (exact
//                       match with the use case's "Redirect Callback URLs"), scope (comma-separated),
//                       response_type=code, state. No PKCE is documented, so none is sent.
//                  https://developers.facebook.com/documentation/threads/get-started/get-access-tokens-and-permissions
//                  (updated 12 Aug 2026: threads.com, without "www"). threads.net now answers with a redirect to
//                  threads.com that, for some people, drops the query and lands them on the home page.
//                  → redirect_uri?code&state#_ — "#_" is not part of the code; strip it if it came along. A refusal
//                    comes back as ?error=access_denied&error_reason=user_denied&error_description.
//   API host       graph.threads.net, which still answers; newer pages (app access tokens) already show
//                  graph.threads.com. The upstream client follows no redirects: when .net starts redirecting, move.
//   Token          POST https://graph.threads.net/oauth/access_token   form: client_id, client_secret,
//                       grant_type=authorization_code, redirect_uri, code → {access_token, user_id}: a 1-hour token.
//   Long-lived     GET  https://graph.threads.net/access_token?grant_type=th_exchange_token&client_secret&access_token
//                       → {access_token, token_type: "bearer", expires_in: 5183944} (60 days). Done at once.
//                  https://developers.facebook.com/docs/threads/get-started/long-lived-tokens
//   Refresh        GET  https://graph.threads.net/refresh_access_token?grant_type=th_refresh_token&access_token
//                       — for a long-lived token at least 24 hours old and unexpired; valid 60 days from the
//                       refresh. A token not refreshed within its 60 days is dead for good, so the engine renews
//                       it well ahead (there is no refresh token: `canRefresh` is always true).
//   Profile        GET  https://graph.threads.net/v1.0/me?fields=id,username,name,threads_profile_picture_url
//   Revocation     none documented (only the uninstall and data-deletion callbacks of the app dashboard): a
//                  disconnect forgets the token; the person removes the app in Threads' settings.
//   Proof          The Threads API documents no appsecret_proof (only graph.facebook.com does): none is sent.
//   Errors         Graph-style {"error": {message, type, code, error_subcode}} (meta-graph.ts): code 190 = the token
//                  is expired or revoked; throttling codes (4, 17, 32, 613) and 5xx = try later.
//                  https://developers.facebook.com/docs/graph-api/guides/error-handling
//   Limits         Until App Review approves the permissions, only people with a role on the app (Threads testers
//                  who accepted the invitation) can connect. Publishing: 250 posts per profile per 24 hours.
//                  https://developers.facebook.com/documentation/threads/get-started
//                  https://developers.facebook.com/docs/threads/overview
import { z } from 'zod';
import { AccessTokenResponse, LONG_LIVED_SECONDS, metaError, parseMeta, secretOf } from '../meta-graph.ts';
import { expiryFrom, type AppCredentials, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const AUTHORIZE_URL = 'https://threads.com/oauth/authorize';
export const GRAPH = 'https://graph.threads.net';
export const API_VERSION = 'v1.0';

// threads_basic and threads_content_publish connect and post; a thread's later posts are replies
// (threads_manage_replies, and threads_read_replies to find one after an unknown outcome), deleting needs
// threads_delete and the account's metrics threads_manage_insights (publishing.ts cites each page).
const SCOPES = ['threads_basic', 'threads_content_publish', 'threads_manage_replies', 'threads_read_replies', 'threads_manage_insights', 'threads_delete'] as const;
const PROFILE_FIELDS = 'id,username,name,threads_profile_picture_url';

/** Threads refuses to refresh a long-lived token younger than this. */
const MIN_REFRESH_AGE_MS = 24 * 3600 * 1000;

const ShortLivedToken = z.object({ access_token: z.string().min(1), user_id: z.union([z.string(), z.number()]).optional() });
const Me = z.object({
  id: z.string(),
  username: z.string().optional(),
  name: z.string().optional(),
  threads_profile_picture_url: z.string().optional(),
});

/** How Threads connects: the authorization window, its tokens and the profile. Publishing is in publishing.ts. */
export function threadsConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function graphGet<T>(path: string, schema: z.ZodType<T>, req: { query?: Record<string, string>; bearer?: string }): Promise<T> {
    const res = await upstream.request(`${GRAPH}/${path}`, { method: 'GET', ...req });
    if (res.status !== 200) throw metaError(res, 'Threads');
    return parseMeta(schema, res, 'Threads');
  }

  async function longLived(app: AppCredentials, shortLivedToken: string): Promise<TokenSet> {
    const body = await graphGet('access_token', AccessTokenResponse, {
      query: { grant_type: 'th_exchange_token', client_secret: secretOf(app, 'Threads'), access_token: shortLivedToken },
    });
    // Threads' answers do not list the granted permissions; the window grants what was asked.
    return { accessToken: body.access_token, expiresAt: expiryFrom(body.expires_in, LONG_LIVED_SECONDS), scopes: app.scopes, tokenType: body.token_type };
  }

  const me = (accessToken: string, fields: string) => graphGet(`${API_VERSION}/me`, Me, { bearer: accessToken, query: { fields } });

  return {
    network: 'threads',
    displayName: 'Threads',
    usesPkce: false,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state }) {
      const url = new URL(AUTHORIZE_URL);
      url.search = new URLSearchParams({
        client_id: app.clientId,
        redirect_uri: redirectUri,
        scope: app.scopes.join(','),
        response_type: 'code',
        state,
      }).toString();
      return upstream.rewrite(url.toString());
    },

    async exchangeCode({ app, code, redirectUri }) {
      const res = await upstream.request(`${GRAPH}/oauth/access_token`, {
        form: {
          client_id: app.clientId,
          client_secret: secretOf(app, 'Threads'),
          grant_type: 'authorization_code',
          redirect_uri: redirectUri,
          code: code.replace(/#_$/, ''),
        },
      });
      if (res.status !== 200) throw metaError(res, 'Threads');
      const short = parseMeta(ShortLivedToken, res, 'Threads');
      // The 1-hour token is only good for its exchange: every account holds a 60-day one.
      return longLived(app, short.access_token);
    },

    async fetchProfiles({ tokens }) {
      const profile = await me(tokens.accessToken, PROFILE_FIELDS);
      return [
        {
          networkUniqueId: profile.id,
          username: profile.username ?? null,
          nickname: profile.name ?? profile.username ?? null,
          profilePictureUrl: profile.threads_profile_picture_url ?? null,
          accountType: 'personal',
          tokens,
        },
      ];
    },

    async verify({ accessToken }) {
      await me(accessToken, 'id');
    },

    // The long-lived token renews itself (th_refresh_token): there is never a refresh token.
    canRefresh: () => true,

    async refresh({ tokens }) {
      // Threads refuses tokens younger than a day; until then the current one is the freshest there is.
      const issuedAt = tokens.expiresAt ? tokens.expiresAt.getTime() - LONG_LIVED_SECONDS * 1000 : 0;
      if (Date.now() - issuedAt < MIN_REFRESH_AGE_MS) return tokens;
      const fresh = await graphGet('refresh_access_token', AccessTokenResponse, {
        query: { grant_type: 'th_refresh_token', access_token: tokens.accessToken },
      });
      return { accessToken: fresh.access_token, expiresAt: expiryFrom(fresh.expires_in, LONG_LIVED_SECONDS), scopes: tokens.scopes, tokenType: fresh.token_type };
    },
  };
}
