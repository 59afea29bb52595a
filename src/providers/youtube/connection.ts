// YouTube — Google's OAuth 2.0 for web server apps (google-oauth.ts), then the YouTube Data API v3 to find the
// channels the login can publish to. Google's docs (verified):
//
//   OAuth          https://developers.google.com/youtube/v3/guides/auth/server-side-web-apps
//                  https://developers.google.com/identity/protocols/oauth2/web-server
//                  accounts.google.com/o/oauth2/v2/auth with access_type=offline, prompt=consent,
//                  include_granted_scopes=true and PKCE S256; the code and refreshes at oauth2.googleapis.com/token
//                  with client_id + client_secret in the form body. Access tokens live an hour; refreshes answer no
//                  refresh_token (the stored one stays valid; it never rotates); revocation at
//                  oauth2.googleapis.com/revoke?token=…
//   Scopes         https://www.googleapis.com/auth/youtube.upload (upload videos),
//                  https://www.googleapis.com/auth/youtube.readonly (read the channel) and
//                  https://www.googleapis.com/auth/youtube.force-ssl (the only scope commentThreads.insert takes, and
//                  one of those videos.delete takes: a post's comments and deleting it at YouTube), space-separated.
//                  https://developers.google.com/youtube/v3/docs/commentThreads/insert
//                  https://developers.google.com/youtube/v3/docs/videos/delete
//                  Google's consent screen lets people untick scopes: a connection without them is refused in plain
//                  words.
//   Channels       GET https://www.googleapis.com/youtube/v3/channels?part=snippet&mine=true (1 quota unit)
//                  → {items: [{id, snippet: {title, customUrl: "@handle", thumbnails: {default, medium, high}}}]}
//                  https://developers.google.com/youtube/v3/docs/channels/list
//                  A grant belongs to the identity chosen in Google's account picker (the person or one of their
//                  Brand Accounts); every channel it answers is offered, and with several the user chooses.
//                  No items: the Google account has no YouTube channel yet.
//   Errors         {error: {code, message, errors: [{domain, reason, message}], status}}
//                  https://developers.google.com/youtube/v3/docs/errors
//                  401 (authError, UNAUTHENTICATED) = the token is dead; 403 quotaExceeded = the project's daily
//                  quota is spent until midnight Pacific time; 403 rateLimitExceeded / userRateLimitExceeded and
//                  5xx = try later; other 403s (forbidden, insufficientPermissions) = the request is refused.
//   Limits         10,000 quota units per project per day by default, reset at midnight Pacific time
//                  https://developers.google.com/youtube/v3/determine_quota_cost
//                  Apps in the "Testing" publishing status get refresh tokens that expire after 7 days.
import { z } from 'zod';
import { classifyStatus, retryAfterSeconds, type UpstreamResponse } from '../upstream.ts';
import { googleAuthorizationUrl, googleRefresh, googleRevoke, googleTokenRequest } from '../google-oauth.ts';
import { NetworkError, type AppCredentials, type ConnectableProfile, type NetworkAdapter, type TokenSet, type AdapterContext } from '../types.ts';

const CHANNELS_URL = 'https://www.googleapis.com/youtube/v3/channels';

const SCOPES = [
  'https://www.googleapis.com/auth/youtube.upload',
  'https://www.googleapis.com/auth/youtube.readonly',
  'https://www.googleapis.com/auth/youtube.force-ssl',
] as const;

const NO_CHANNEL = 'This Google account has no YouTube channel: create one, then connect again.';

/** Reasons of a 403 that pass with time: the daily quota, and per-second or per-user rate limits. */
const QUOTA_REASONS = new Set(['quotaExceeded', 'dailyLimitExceeded']);
const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);

const Thumbnail = z.object({ url: z.string() });
const Channel = z.object({
  id: z.string(),
  snippet: z
    .object({
      title: z.string().optional(),
      customUrl: z.string().optional(),
      thumbnails: z.object({ default: Thumbnail.optional(), medium: Thumbnail.optional(), high: Thumbnail.optional() }).optional(),
    })
    .optional(),
});
const ChannelList = z.object({ items: z.array(Channel).optional() });
const ApiError = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    errors: z.array(z.object({ reason: z.string().optional(), message: z.string().optional() })).optional(),
  }),
});

type Channel = z.infer<typeof Channel>;

/** YouTube's connection: Google's OAuth, and the channels a grant can publish to. */
export function createYouTubeConnection(ctx: AdapterContext): NetworkAdapter {
  const { upstream } = ctx;

  async function myChannels(accessToken: string, part: string): Promise<Channel[]> {
    const res = await upstream.request(CHANNELS_URL, { bearer: accessToken, query: { part, mine: 'true' } });
    if (res.status !== 200) throw youTubeError(res);
    const parsed = ChannelList.safeParse(res.body);
    if (!parsed.success) throw new NetworkError('transient', 'server_error', 'YouTube sent an answer we could not read');
    return parsed.data.items ?? [];
  }

  return {
    network: 'youtube',
    displayName: 'YouTube',
    usesPkce: true,
    defaultScopes: SCOPES,

    authorizationUrl(input) {
      return googleAuthorizationUrl(upstream, input);
    },

    async exchangeCode({ app, code, redirectUri, codeVerifier }) {
      const tokens = await googleTokenRequest(upstream, app, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
      refuseMissingScopes(app, tokens);
      return tokens;
    },

    async fetchProfiles({ tokens }): Promise<ConnectableProfile[]> {
      const channels = await myChannels(tokens.accessToken, 'snippet');
      if (!channels.length) throw new NetworkError('rejected', 'access_denied', NO_CHANNEL);
      // Every channel of one grant shares its tokens; the count decides whether a disconnect may revoke them.
      return channels.map((channel) => ({
        networkUniqueId: channel.id,
        username: channel.snippet?.customUrl?.replace(/^@/, '') ?? null,
        nickname: channel.snippet?.title ?? null,
        profilePictureUrl: pictureOf(channel),
        accountType: 'channel' as const,
        tokens,
        metadata: { channelsInGrant: channels.length },
      }));
    },

    async verify({ accessToken }) {
      await myChannels(accessToken, 'id');
    },

    refresh({ app, tokens }) {
      return googleRefresh(upstream, app, tokens);
    },

    async revoke({ tokens, metadata }) {
      // Revoking ends the whole grant: when it also serves other channels, they would all stop working.
      if (Number(metadata.channelsInGrant ?? 1) > 1) return;
      await googleRevoke(upstream, tokens);
    },
  };
}

/** Google's granular consent lets people untick scopes; without them the account could not read or upload. */
function refuseMissingScopes(app: AppCredentials, tokens: TokenSet) {
  if (!tokens.scopes) return;
  const missing = app.scopes.filter((scope) => !tokens.scopes!.includes(scope));
  if (!missing.length) return;
  throw new NetworkError(
    'rejected',
    'access_denied',
    `Google did not grant ${missing.map((s) => `"${s}"`).join(', ')}. Connect again and keep every requested permission ticked.`,
  );
}

function pictureOf(channel: Channel): string | null {
  const thumbnails = channel.snippet?.thumbnails;
  return (thumbnails?.high ?? thumbnails?.medium ?? thumbnails?.default)?.url ?? null;
}

/** Seconds until the daily quota resets: midnight in America/Los_Angeles. */
export function secondsUntilPacificMidnight(now = new Date()): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23' })
    .formatToParts(now)
    .reduce<Record<string, number>>((acc, p) => (p.type === 'literal' ? acc : { ...acc, [p.type]: Number(p.value) }), {});
  return 24 * 3600 - (parts.hour * 3600 + parts.minute * 60 + parts.second);
}

/** Errors of the YouTube Data API. */
function youTubeError(res: UpstreamResponse): NetworkError {
  const error = ApiError.safeParse(res.body).data?.error;
  // YouTube's messages may carry HTML links ("exceeded your <a href=…>quota</a>"): keep the words only.
  const message = error?.message?.replace(/<[^>]*>/g, '') ?? `YouTube refused the request (HTTP ${res.status})`;
  const reasons = (error?.errors ?? []).map((e) => e.reason ?? '');
  if (res.status === 403 && reasons.some((r) => QUOTA_REASONS.has(r))) {
    return new NetworkError('transient', 'temporarily_unavailable', `The YouTube Data API quota of this Google Cloud project is used up for today. (${message})`, secondsUntilPacificMidnight());
  }
  if (res.status === 403 && reasons.some((r) => RATE_LIMIT_REASONS.has(r))) {
    return new NetworkError('transient', 'temporarily_unavailable', message, retryAfterSeconds(res.headers));
  }
  const kind = classifyStatus(res.status);
  if (kind === 'transient') return new NetworkError('transient', 'temporarily_unavailable', message, retryAfterSeconds(res.headers));
  return new NetworkError(kind, kind === 'permanent' ? 'invalid_token' : 'access_denied', message);
}
