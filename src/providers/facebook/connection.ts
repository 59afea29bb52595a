// Facebook, connection — Facebook Login for a person, then the Pages they manage; only Pages are connectable.
// Publishing is beside it (publishing.ts); index.ts puts the two together. Meta's docs (verified):
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
//   Versions       the operator's Graph version (SWITCHBOARD_META_GRAPH_VERSION, default v26.0; meta-graph.ts).
//   Proof          every Graph call carries appsecret_proof (meta-graph.ts), so apps with "Require App Secret"
//                  switched on work. https://developers.facebook.com/docs/graph-api/securing-requests
//   Permissions    GET  /me/permissions → {data: [{permission, status: granted|declined}]}
//                  https://developers.facebook.com/docs/graph-api/reference/user/permissions
//   Pages          GET  /me/accounts?fields=id,name,username,picture,access_token,tasks
//                  → {data: [...], paging: {cursors, next?}}; each Page's `access_token` posts as the Page. Read with
//                  a long-lived user token it has no expiry date, and dies with the user's grant.
//   The person     Not offered: nothing can be published to a person's own timeline since the removal of
//                  publish_actions ("publish_actions permission has been removed", 24 April 2018,
//                  https://developers.facebook.com/docs/graph-api/changelog/non-versioned-changes/apr-24-2018).
//                  The login only lists Pages; one shared Page connects without a selection step.
//   Revocation     DELETE /{user-id}/permissions removes the app from the PERSON: every Page token of the login dies
//                  with it. A Page cannot tell which other Pages share its grant, so disconnecting a Page revokes
//                  nothing at Facebook (the person removes the app under Settings → Business integrations).
//   Errors         Graph errors (see meta-graph.ts): 190 → reconnect; 4, 17, 32, 613, Business Use Case codes
//                  80000–80014 (Page tokens are BUC-limited: 80001) and 5xx → try later, after
//                  `estimated_time_to_regain_access` of X-Business-Use-Case-Usage when it says.
//                  https://developers.facebook.com/docs/graph-api/overview/rate-limiting
//   Limits         Apps in development mode only work for people with a role on the app (admin, developer,
//                  tester); `pages_manage_posts`, `pages_read_engagement`, `pages_manage_engagement` and
//                  `business_management` need App Review (Advanced Access) before anyone else can grant them.
import { z } from 'zod';
import { facebookDialogError, type MetaGraph } from '../meta-graph.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter } from '../types.ts';

/**
 * Read the person's Pages and publish as them: posts (`pages_manage_posts`, with `pages_read_engagement`), comments
 * as the Page (`pages_manage_engagement`, https://developers.facebook.com/docs/pages-api/posts), and Pages owned
 * through a Business Manager (`business_management`).
 */
const SCOPES = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts', 'pages_manage_engagement', 'business_management'] as const;
const PAGE_FIELDS = 'id,name,username,picture,access_token,tasks';

const Picture = z.object({ data: z.object({ url: z.string() }).optional() }).optional();
const Me = z.object({ id: z.string() });
const Page = z.object({
  id: z.string(),
  name: z.string(),
  username: z.string().optional(),
  picture: Picture,
  access_token: z.string().optional(),
  tasks: z.array(z.string()).optional(),
});

const NO_PAGES =
  'No Facebook Page was shared with this app. Connect again and, in the Facebook dialog, choose the Pages to connect ' +
  '(you need a role on a Page that lets you create content).';

/** Everything of the adapter but publishing and the proxy. */
export type FacebookConnection = Omit<NetworkAdapter, 'publishing' | 'api'>;

export function facebookConnection(graph: MetaGraph): FacebookConnection {
  return {
    network: 'facebook',
    displayName: 'Facebook',
    usesPkce: false,
    defaultScopes: SCOPES,

    authorizationUrl({ app, redirectUri, state }) {
      return graph.dialogUrl({ app, redirectUri, state });
    },

    callbackError: facebookDialogError,

    exchangeCode({ app, code, redirectUri }) {
      return graph.login({ app, code, redirectUri });
    },

    async fetchProfiles({ app, tokens }) {
      const scopes = await graph.grantedPermissions(app, tokens.accessToken, 'Facebook');
      const me = await graph.get(app, 'me', tokens.accessToken, Me, { fields: 'id' });
      const pages = await graph.getAll(app, 'me/accounts', tokens.accessToken, Page, { fields: PAGE_FIELDS });
      const postable = pages.filter((page) => page.access_token);
      if (postable.length === 0) throw new NetworkError('rejected', 'access_denied', NO_PAGES);
      return postable.map(
        (page): ConnectableProfile => ({
          networkUniqueId: page.id,
          username: page.username ?? null,
          nickname: page.name,
          profilePictureUrl: page.picture?.data?.url ?? null,
          accountType: 'page',
          tokens: { accessToken: page.access_token!, expiresAt: null, scopes },
          metadata: { userId: me.id, pageId: page.id, tasks: page.tasks ?? [] },
        }),
      );
    },

    async verify({ app, accessToken }) {
      await graph.get(app, 'me', accessToken, Me, { fields: 'id' });
    },

    // Page tokens have no expiry and no renewal. A person's own account (connected before only Pages were
    // offered) still holds a long-lived user token, renewed by exchanging it again.
    canRefresh: (_tokens, metadata) => metadata.pageId === undefined,

    async refresh({ app, tokens, metadata }) {
      if (metadata.pageId !== undefined) {
        // When Facebook rejects a Page token, only a new login brings it back.
        throw new NetworkError('permanent', 'invalid_grant', 'This Facebook Page token can no longer be used: reconnect the Page.');
      }
      const fresh = await graph.extend(app, tokens.accessToken);
      return { ...fresh, scopes: tokens.scopes };
    },
  };
}
