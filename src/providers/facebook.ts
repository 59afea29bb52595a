// Facebook — Facebook Login for a person, then the Pages they manage. Meta's docs (verified):
//
//   Authorization  GET  www.facebook.com/{version}/dialog/oauth   client_id, redirect_uri (exact match, Strict Mode),
//                                        state, response_type=code, scope (comma-separated)
//                  https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
//                  → redirect_uri?code&state (+ "#_=_"), or ?error=access_denied&error_code=200&error_reason=user_denied
//                    &error_description&state when the person cancels. A dialog that refuses to run (an app in
//                    development mode opened by someone without a role on it) answers ?error_code&error_message.
//   Token          GET  graph.facebook.com/{version}/oauth/access_token  client_id, redirect_uri, client_secret, code
//                  (the secret in the query string; no HTTP Basic) → a short-lived user token, exchanged at once
//                  with grant_type=fb_exchange_token for a long-lived one (~60 days, `expires_in` ≈ 5183944).
//                  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
//                  No refresh token: renewal re-exchanges the still-valid long-lived token (Nango does the same).
//   Profile        GET  /me?fields=id,name,picture → {id, name, picture: {data: {url}}}. People have no username.
//   Permissions    GET  /me/permissions → {data: [{permission, status: granted|declined}]}
//                  https://developers.facebook.com/docs/graph-api/reference/user/permissions
//   Pages          GET  /me/accounts?fields=id,name,username,picture,access_token,tasks,instagram_business_account
//                  → {data: [...], paging: {cursors, next?}}; each Page's `access_token` posts as the Page. Read with
//                  a long-lived user token it has no expiry date, and dies with the user's grant.
//   Revocation     DELETE /{user-id}/permissions → {success: true}: the app is removed from the person's account.
//   Errors         Graph errors (see meta-graph.ts): 190 → reconnect; 4, 17, 32, 613 and 5xx → try later.
//   Limits         Apps in development mode only work for people with a role on the app (admin, developer,
//                  tester); `pages_manage_posts`, `pages_read_engagement` and `business_management` need App Review
//                  (Advanced Access) before anyone else can grant them.
import { z } from 'zod';
import {
  extendFacebookToken,
  facebookDialogError,
  facebookDialogUrl,
  facebookGraph,
  facebookGraphAll,
  facebookLogin,
  grantedFacebookPermissions,
  revokeFacebookGrant,
} from './meta-graph.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter, type AdapterContext } from './types.ts';

/** Read the person's Pages and publish as them (`business_management`: Pages owned through a Business Manager). */
const SCOPES = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts', 'business_management'] as const;
const PAGE_FIELDS = 'id,name,username,picture,access_token,tasks,instagram_business_account';

const Picture = z.object({ data: z.object({ url: z.string() }).optional() }).optional();
const Me = z.object({ id: z.string(), name: z.string().optional(), picture: Picture });
const Page = z.object({
  id: z.string(),
  name: z.string(),
  username: z.string().optional(),
  picture: Picture,
  access_token: z.string().optional(),
  tasks: z.array(z.string()).optional(),
});
const Identity = z.object({ id: z.string() });

const NO_PAGES =
  'No Facebook Page was shared with this app. Connect again and, in the Facebook dialog, choose the Pages to connect ' +
  '(you need a role on a Page that lets you create content).';

export function createFacebookAdapter(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  return {
    network: 'facebook',
    displayName: 'Facebook',
    usesPkce: false,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state }) {
      return facebookDialogUrl(upstream, { app, redirectUri, state });
    },

    callbackError: facebookDialogError,

    exchangeCode({ app, code, redirectUri }) {
      return facebookLogin(upstream, { app, code, redirectUri });
    },

    async fetchProfiles({ app, tokens }) {
      const scopes = await grantedFacebookPermissions(upstream, app, tokens.accessToken, 'Facebook');
      const me = await facebookGraph(upstream, 'me', tokens.accessToken, Me, { fields: 'id,name,picture' });
      const pages = await facebookGraphAll(upstream, 'me/accounts', tokens.accessToken, Page, { fields: PAGE_FIELDS });
      const postable = pages.filter((page) => page.access_token);
      if (postable.length === 0) throw new NetworkError('rejected', 'access_denied', NO_PAGES);
      const user: ConnectableProfile = {
        networkUniqueId: me.id,
        username: null,
        nickname: me.name ?? null,
        profilePictureUrl: me.picture?.data?.url ?? null,
        accountType: 'personal',
        tokens: { ...tokens, scopes },
        metadata: { userId: me.id },
      };
      return [
        user,
        ...postable.map(
          (page): ConnectableProfile => ({
            networkUniqueId: page.id,
            username: page.username ?? null,
            nickname: page.name,
            profilePictureUrl: page.picture?.data?.url ?? null,
            accountType: 'page',
            tokens: { accessToken: page.access_token!, expiresAt: null, scopes },
            metadata: { userId: me.id, pageId: page.id, tasks: page.tasks ?? [] },
          }),
        ),
      ];
    },

    async verify({ accessToken }) {
      await facebookGraph(upstream, 'me', accessToken, Identity, { fields: 'id' });
    },

    // No refresh token at Facebook: the person's still-valid long-lived token is exchanged again. Page tokens
    // have nothing to renew.
    canRefresh: (_tokens, metadata) => metadata.pageId === undefined,

    async refresh({ app, tokens, metadata }) {
      if (metadata.pageId !== undefined) {
        // A Page token has no expiry and no renewal: when Facebook rejects it, only a new login brings it back.
        throw new NetworkError('permanent', 'invalid_grant', 'This Facebook Page token can no longer be used: reconnect the Page.');
      }
      const fresh = await extendFacebookToken(upstream, app, tokens.accessToken);
      return { ...fresh, scopes: tokens.scopes };
    },

    async revoke({ tokens, metadata }) {
      // Only the person's own account revokes the grant. A Page's token dies with it, so revoking for one Page
      // would also disconnect every other Page of the same login.
      if (metadata.pageId !== undefined || typeof metadata.userId !== 'string') return;
      await revokeFacebookGrant(upstream, metadata.userId, tokens.accessToken);
    },
  };
}
