// Google Business Profile, publishing — local posts ("updates", events, offers) on a location, through the My
// Business API v4, still the only posts API of the Business Profile APIs; the location's daily performance through
// the Business Profile Performance API. Every call carries the location manager's bearer token (business.manage).
// Google's docs (verified; [OBS] and [INF] marked):
//
//   Create     POST https://mybusiness.googleapis.com/v4/{parent=accounts/*/locations/*}/localPosts, body a LocalPost
//              → the LocalPost created. The parent is the account the location was listed under and the
//              location's id (connection.ts keeps both: accountName "accounts/1", locationName "locations/2").
//              https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/create
//   LocalPost  {languageCode, summary ("Description/body of the local post"), callToAction {actionType, url},
//              event {title, schedule: TimeInterval}, media: [MediaItem], topicType, alertType, offer}; output only:
//              name "accounts/…/locations/…/localPosts/…", createTime, updateTime, state, searchUrl ("The link to
//              the local post in Google search … to share the post").
//              https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
//              (and the v4 discovery document: TimeInterval "must contain all fields to be valid" — startDate,
//              startTime, endDate, endTime, as {year, month, day} and {hours, minutes}; a date without a time here
//              is sent as the whole day, 00:00 to 23:59 [INF]. Times are the location's local time.)
//   Topics     STANDARD; EVENT ("basic information and an event"): event required; OFFER ("basic information, an
//              event and offer related content"): event required, offer {couponCode, redeemOnlineUrl,
//              termsConditions} all optional, callToAction "Ignored for topic type OFFER" — so refused here rather
//              than dropped in silence; ALERT: only alertType COVID_19, "When these alerts are no longer relevant,
//              new Alert post creation … will be disabled" — not offered. Product posts "cannot be created using
//              the Google My Business API" (https://developers.google.com/my-business/content/posts-data).
//   Actions    BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP, CALL (GET_OFFER is deprecated); url: "For a call CTA this
//              field should be left unset", every other action needs one.
//   Media      MediaItem {mediaFormat: PHOTO, sourceUrl}: "source_url is the only supported data field for a
//              LocalPost MediaItem", and mediaFormat PHOTO: "In this version, only photos are supported" — no
//              video. Google fetches our public media URL (PublishMedia.url). One photo [OBS: Google's post editor
//              and every integrator take one; the API's limit is not stated]; JPEG or PNG, 10 KB to 5 MB, at least
//              250 × 250 pixels [OBS: Google's Business Profile photo guidelines as quoted by integrators].
//   Text       The summary up to 1,500 characters [OBS: Google's post editor; integrators (Postproxy, Postfuze)
//              agree; the API documents no number], counted as UTF-16 units (the stricter count) [INF].
//   State      LIVE ("published and is currently appearing in search results"), PROCESSING ("being processed and
//              is not appearing in search results"), REJECTED ("rejected due to content policy violation"). A post
//              created PROCESSING is read again — GET https://mybusiness.googleapis.com/v4/{name} — until it is
//              LIVE (published at its searchUrl) or REJECTED (`user_content`: Google gives no reason beyond its
//              content policy). https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/get
//   Finding    No idempotency key exists. After an unknown outcome: GET …/localPosts?pageSize=100&pageToken
//              (https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts/list)
//              for a post with the same summary created since just before the attempt. One → that part; none →
//              absent; several, or more posts than we read → unknown.
//   Deleting   DELETE https://mybusiness.googleapis.com/v4/{name} → {} (posts-data: "Delete Posts"); one already
//              gone (NOT_FOUND while the location's posts can still be listed) counts as deleted.
//   Threads    None: a location has no replies or comments of its own posts; a post with more than one part is
//              refused at preflight.
//   Limits     300 requests a minute per API; "10 edits per min per Google Business Profile. This limit cannot be
//              increased." A project starts with a quota of 0 until Google approves its application
//              (https://developers.google.com/my-business/content/limits). Errors: errors.ts.
//   Metrics    GET https://businessprofileperformance.googleapis.com/v1/{location=locations/*}:fetchMultiDailyMetricsTimeSeries
//              ?dailyMetrics=…&dailyMetrics=…&dailyRange.start_date.year=…&…end_date.day=… (as Google's example) →
//              {multiDailyMetricTimeSeries: [{dailyMetricTimeSeries: [{dailyMetric, timeSeries: {datedValues:
//              [{date: {year, month, day}, value: "int64"}]}}]}]} (a day without a value counted 0). Metrics:
//              BUSINESS_IMPRESSIONS_{DESKTOP,MOBILE}_{MAPS,SEARCH} ("Multiple impressions by a unique user within
//              a single day are counted as a single impression"), CALL_CLICKS, WEBSITE_CLICKS,
//              BUSINESS_DIRECTION_REQUESTS. "Only daily data is available": the period is counted by whole UTC
//              days [INF: Google's days are the location's]. A location has no followers.
//              https://developers.google.com/my-business/reference/performance/rest/v1/locations/fetchMultiDailyMetricsTimeSeries
//              https://developers.google.com/my-business/reference/performance/rest/v1/DailyMetric
//   Language   languageCode from the options, else the location's own (Business Information API,
//              GET /v1/locations/{id}?readMask=languageCode), else "en".
//   Proxy      https://mybusiness.googleapis.com with the bearer token.
import { z } from 'zod';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../upstream.ts';
import {
  PublishError,
  type AccountCallContext,
  type AccountMetrics,
  type AdapterContext,
  type NetworkApi,
  type NetworkMetrics,
  type NetworkPublishing,
  type PartInput,
  type PartOutcome,
  type PublishAccount,
  type PublishedPart,
  type PublishingRules,
  type SavedProgress,
} from '../types.ts';
import { businessProfileError } from './errors.ts';

export const MY_BUSINESS_ORIGIN = 'https://mybusiness.googleapis.com';
const MY_BUSINESS = `${MY_BUSINESS_ORIGIN}/v4`;
const BUSINESS_INFORMATION = 'https://mybusinessbusinessinformation.googleapis.com/v1';
const PERFORMANCE = 'https://businessprofileperformance.googleapis.com/v1';

const MB = 1024 * 1024;
export const SUMMARY_MAX = 1500;
const PHOTO_MIN_BYTES = 10 * 1024;
/** Seconds between looks at a post Google is still processing. */
const PROCESSING_CHECK_SECONDS = 30;
/** How long before the attempt a post found in the list may be dated (clock differences), in milliseconds. */
const FIND_SLACK_MS = 2 * 60 * 1000;
/** The largest page of localPosts.list, and how many pages `findPart` reads at most. */
const LIST_PAGE_SIZE = 100;
const FIND_PAGES = 5;

export const TOPIC_TYPES = ['STANDARD', 'EVENT', 'OFFER'] as const;
export const ACTION_TYPES = ['BOOK', 'ORDER', 'SHOP', 'LEARN_MORE', 'SIGN_UP', 'CALL'] as const;
const IMPRESSIONS = ['BUSINESS_IMPRESSIONS_DESKTOP_MAPS', 'BUSINESS_IMPRESSIONS_DESKTOP_SEARCH', 'BUSINESS_IMPRESSIONS_MOBILE_MAPS', 'BUSINESS_IMPRESSIONS_MOBILE_SEARCH'] as const;
const DAILY_METRICS = [...IMPRESSIONS, 'CALL_CLICKS', 'WEBSITE_CLICKS', 'BUSINESS_DIRECTION_REQUESTS'] as const;

export const GOOGLE_BUSINESS_RULES: PublishingRules = {
  text: { maxLength: SUMMARY_MAX, counting: 'utf16' },
  media: {
    maxItems: 1,
    image: { maxCount: 1, maxBytes: 5 * MB, contentTypes: ['image/jpeg', 'image/png'], minWidth: 250, minHeight: 250 },
    mixKinds: false,
  },
  laterContainers: 'none',
  laterContainersMedia: false,
  maxContainers: 1,
};

// ---- options: `{"google_business": {…}}` in a post ------------------------------------------------------------
/** Bounds on free text we accept (ours, for API hygiene: Google documents none for these fields). */
const Text = z.string().trim().min(1).max(SUMMARY_MAX);
const WebUrl = z.url({ protocol: /^https?$/ }).max(2048);
const Time = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:MM (24-hour), in the location’s local time');
const Schedule = z
  .object({
    startDate: z.iso.date().describe('YYYY-MM-DD'),
    startTime: Time.optional().describe('HH:MM, the location’s local time (default 00:00)'),
    endDate: z.iso.date().describe('YYYY-MM-DD'),
    endTime: Time.optional().describe('HH:MM, the location’s local time (default 23:59)'),
  })
  .strict();
const Options = z
  .object({
    topicType: z.enum([...TOPIC_TYPES, 'ALERT']).optional().describe('STANDARD (default), EVENT or OFFER'),
    languageCode: z
      .string()
      .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'a BCP 47 language code such as "en" or "de-AT"')
      .optional()
      .describe('The post’s language (default: the location’s)'),
    callToAction: z
      .object({ actionType: z.enum(ACTION_TYPES), url: WebUrl.optional().describe('Required for every action but CALL') })
      .strict()
      .optional(),
    event: z.object({ title: Text.optional(), schedule: Schedule.optional() }).strict().optional(),
    offer: z.object({ couponCode: Text.optional(), redeemOnlineUrl: WebUrl.optional(), termsConditions: Text.optional() }).strict().optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const topic = o.topicType ?? 'STANDARD';
    const problem = (message: string, path: string[]) => ctx.addIssue({ code: 'custom', message, path });
    if (topic === 'ALERT') problem('Google’s ALERT posts (COVID-19 announcements) are being retired: post a STANDARD update instead', ['topicType']);
    if (topic === 'EVENT' && !o.event?.title) problem('an EVENT post needs event.title', ['event', 'title']);
    if ((topic === 'EVENT' || topic === 'OFFER') && !o.event?.schedule) problem(`an ${topic} post needs event.schedule (its start and end)`, ['event', 'schedule']);
    if (o.event && topic !== 'EVENT' && topic !== 'OFFER') problem('event is only for topicType EVENT or OFFER', ['event']);
    if (o.offer && topic !== 'OFFER') problem('offer is only for topicType OFFER', ['offer']);
    if (o.callToAction && topic === 'OFFER') problem('Google ignores a call to action on an OFFER post: give offer.redeemOnlineUrl instead', ['callToAction']);
    if (o.callToAction?.actionType === 'CALL' && o.callToAction.url) problem('a CALL button takes no url: Google calls the location’s phone number', ['callToAction', 'url']);
    if (o.callToAction && o.callToAction.actionType !== 'CALL' && !o.callToAction.url) problem(`a ${o.callToAction.actionType} button needs a url`, ['callToAction', 'url']);
    const s = o.event?.schedule;
    if (s && `${s.endDate}T${s.endTime ?? '23:59'}` <= `${s.startDate}T${s.startTime ?? '00:00'}`) problem('the schedule must end after it starts', ['event', 'schedule']);
  });
export type GoogleBusinessOptions = z.infer<typeof Options>;

// ---- Google's answers -----------------------------------------------------------------------------------------
const LocalPost = z
  .object({
    name: z.string(),
    summary: z.string().optional(),
    state: z.string().optional(),
    searchUrl: z.string().optional(),
    createTime: z.string().optional(),
    topicType: z.string().optional(),
  })
  .loose();
type LocalPost = z.infer<typeof LocalPost>;
const LocalPostsPage = z.object({ localPosts: z.array(LocalPost).optional(), nextPageToken: z.string().optional() });
const LocationLanguage = z.object({ name: z.string().optional(), title: z.string().optional(), languageCode: z.string().optional() }).loose();
const DailySeries = z.object({
  multiDailyMetricTimeSeries: z
    .array(
      z.object({
        dailyMetricTimeSeries: z
          .array(
            z.object({
              dailyMetric: z.string(),
              timeSeries: z.object({ datedValues: z.array(z.object({ value: z.coerce.number().optional() }).loose()).optional() }).loose().optional(),
            }),
          )
          .optional(),
      }),
    )
    .optional(),
});

/** What one post keeps between attempts (and what `findPart` reads). */
interface GoogleBusinessSaved {
  /** When the create request was about to go out (ms). */
  startedAt?: number;
  /** The post Google made, while it processes it. */
  name?: string;
}

/** Google's timestamps (RFC 3339, up to nanoseconds) as milliseconds. */
function googleTime(value: string | undefined): number {
  if (!value) return Number.NaN;
  return Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
}

const dateOf = (iso: string) => {
  const [year, month, day] = iso.split('-').map(Number);
  return { year, month, day };
};
const timeOf = (hhmm: string) => {
  const [hours, minutes] = hhmm.split(':').map(Number);
  return { hours, minutes };
};

/** The location's resource names: `accounts/1/locations/2` (v4's parent) and `locations/2` (the newer APIs'). */
function locationOf(account: PublishAccount): { v4: string; name: string } {
  const name = typeof account.metadata.locationName === 'string' ? account.metadata.locationName : account.networkUniqueId;
  const accountName = account.metadata.accountName;
  if (typeof accountName !== 'string' || !name.startsWith('locations/')) {
    throw new PublishError('permission_missing', 'This account has no Business Profile location on record: connect it again');
  }
  return { v4: `${accountName}/${name}`, name };
}

export function createGoogleBusinessPublishing(ctx: AdapterContext): { publishing: NetworkPublishing; metrics: NetworkMetrics; api: NetworkApi } {
  const upstream: UpstreamClient = ctx.upstream;

  async function call(url: string, accessToken: string, what: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const res = await upstream.request(url, { ...req, bearer: accessToken });
    if (res.status < 200 || res.status >= 300) throw businessProfileError(res, what);
    return res;
  }

  function read<T>(schema: z.ZodType<T>, res: UpstreamResponse): T {
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) throw new PublishError('platform_error', 'Google sent an answer we could not read');
    return parsed.data;
  }

  async function locationFacts(account: PublishAccount, accessToken: string) {
    const { name } = locationOf(account);
    const res = await call(`${BUSINESS_INFORMATION}/${name}`, accessToken, 'reading the location', { query: { readMask: 'name,title,languageCode' } });
    return read(LocationLanguage, res);
  }

  /** The LocalPost to create, from the part and the post's Google Business options. */
  async function localPostBody(input: PartInput): Promise<Record<string, unknown>> {
    const o = input.options as GoogleBusinessOptions;
    const topicType = o.topicType ?? 'STANDARD';
    const languageCode = o.languageCode ?? (await locationFacts(input.account, input.accessToken)).languageCode ?? 'en';
    const body: Record<string, unknown> = { languageCode, topicType };
    if (input.container.text) body.summary = input.container.text;
    if (o.callToAction) body.callToAction = o.callToAction.actionType === 'CALL' ? { actionType: 'CALL' } : o.callToAction;
    if (o.event && (topicType === 'EVENT' || topicType === 'OFFER')) {
      const s = o.event.schedule!;
      body.event = {
        ...(o.event.title ? { title: o.event.title } : {}),
        schedule: {
          startDate: dateOf(s.startDate),
          startTime: timeOf(s.startTime ?? '00:00'),
          endDate: dateOf(s.endDate),
          endTime: timeOf(s.endTime ?? '23:59'),
        },
      };
    }
    if (o.offer && topicType === 'OFFER') body.offer = o.offer;
    const photo = input.container.media[0];
    if (photo) body.media = [{ mediaFormat: 'PHOTO', sourceUrl: photo.url }];
    return body;
  }

  /** What a post's state means for the part. */
  function outcomeOf(post: LocalPost, saved: GoogleBusinessSaved): PartOutcome {
    if (post.state === 'LIVE') return { status: 'published', part: { id: post.name, url: post.searchUrl ?? null } };
    if (post.state === 'REJECTED') {
      throw new PublishError('user_content', 'Google rejected the post for a content policy violation (it says no more): edit the text or the photo', { platformCode: 'state=REJECTED' });
    }
    // PROCESSING (or a state Google has not said yet): not in search results yet.
    return { status: 'processing', saved: { ...saved, name: post.name } as SavedProgress, checkAfterSeconds: PROCESSING_CHECK_SECONDS };
  }

  const publishing: NetworkPublishing = {
    rules: GOOGLE_BUSINESS_RULES,
    optionsSchema: Options as unknown as z.ZodType<Record<string, unknown>>,

    check({ containers }) {
      const problems: string[] = [];
      for (const media of containers[0]?.media ?? []) {
        if (media.size < PHOTO_MIN_BYTES) problems.push(`Google Business Profile takes photos of at least 10 KB (${media.filename} has ${media.size} bytes)`);
      }
      return problems;
    },

    async checkAtNetwork({ account, accessToken }) {
      // Whether the operator's project may use the APIs at all, and whether this login still manages the location:
      // both are certain refusals. Anything else is a failure to ask.
      try {
        await locationFacts(account, accessToken);
        return [];
      } catch (err) {
        if (err instanceof PublishError && (err.category === 'app_not_approved' || err.category === 'permission_missing')) return [err.message];
        throw err;
      }
    },

    async describeOptions({ account, accessToken }) {
      const location = await locationFacts(account, accessToken);
      return {
        location: { name: location.name ?? locationOf(account).name, title: location.title ?? null, languageCode: location.languageCode ?? null },
        topicTypes: [...TOPIC_TYPES],
        callToActionTypes: [...ACTION_TYPES],
        summaryMaxLength: SUMMARY_MAX,
        media: { photos: 1, videos: 0, contentTypes: ['image/jpeg', 'image/png'] },
        needs: {
          EVENT: ['event.title', 'event.schedule'],
          OFFER: ['event.schedule'],
          CALL: 'no url: Google calls the location’s phone number',
        },
      };
    },

    async publishPart(input) {
      const saved = input.saved as GoogleBusinessSaved;
      if (saved.name) {
        // Google made the post and was processing it: has it gone live?
        const res = await upstream.request(`${MY_BUSINESS}/${saved.name}`, { bearer: input.accessToken });
        if (res.status === 404) throw new PublishError('platform_rejected', 'Google removed the post while it was processing it', { platformCode: 'NOT_FOUND' });
        if (res.status !== 200) throw businessProfileError(res, 'reading the post');
        return outcomeOf(read(LocalPost, res), saved);
      }
      const { v4 } = locationOf(input.account);
      const body = await localPostBody(input);
      const progress: GoogleBusinessSaved = { startedAt: Date.now() };
      await input.beforeCreate(progress as SavedProgress);
      const res = await call(`${MY_BUSINESS}/${v4}/localPosts`, input.accessToken, 'the post', { method: 'POST', json: body });
      return outcomeOf(read(LocalPost, res), progress);
    },

    async findPart(input) {
      const startedAt = (input.saved as GoogleBusinessSaved).startedAt;
      if (typeof startedAt !== 'number') return 'unknown';
      const from = startedAt - FIND_SLACK_MS;
      const { v4 } = locationOf(input.account);
      const summary = input.container.text;
      const matches: LocalPost[] = [];
      let pageToken: string | undefined;
      for (let page = 0; page < FIND_PAGES; page++) {
        const res = await call(`${MY_BUSINESS}/${v4}/localPosts`, input.accessToken, 'listing the location’s posts', {
          query: { pageSize: String(LIST_PAGE_SIZE), pageToken },
        });
        const { localPosts = [], nextPageToken } = read(LocalPostsPage, res);
        matches.push(...localPosts.filter((p) => (p.summary ?? '') === summary && googleTime(p.createTime) >= from));
        pageToken = nextPageToken;
        if (!pageToken) break;
      }
      if (matches.length > 1) return 'unknown';
      if (matches.length === 1) {
        const [post] = matches;
        if (post.state === 'REJECTED') return 'unknown';
        return { id: post.name, url: post.searchUrl ?? null } satisfies PublishedPart;
      }
      // More posts than we read: the one we look for may be further on.
      return pageToken ? 'unknown' : 'absent';
    },

    async deletePart({ accessToken, part }) {
      const res = await upstream.request(`${MY_BUSINESS}/${part.id}`, { method: 'DELETE', bearer: accessToken });
      if (res.status === 200 || res.status === 204) return;
      if (res.status === 404) {
        // NOT_FOUND is also Google's answer for a location this login no longer manages: the post is gone only if
        // the location's posts can still be read.
        const parent = part.id.slice(0, part.id.indexOf('/localPosts/'));
        const location = await upstream.request(`${MY_BUSINESS}/${parent}/localPosts`, { bearer: accessToken, query: { pageSize: '1' } });
        if (location.status === 200) return;
        throw businessProfileError(location, 'deleting the post');
      }
      throw businessProfileError(res, 'deleting the post');
    },
  };

  const metrics: NetworkMetrics = {
    async read({ account, accessToken, since, until }: AccountCallContext & { since: Date; until: Date }): Promise<AccountMetrics> {
      const { name } = locationOf(account);
      const query = new URLSearchParams();
      for (const metric of DAILY_METRICS) query.append('dailyMetrics', metric);
      // The parameter names of Google's own example request.
      const range = { start_date: since, end_date: until };
      for (const [key, date] of Object.entries(range)) {
        query.set(`dailyRange.${key}.year`, String(date.getUTCFullYear()));
        query.set(`dailyRange.${key}.month`, String(date.getUTCMonth() + 1));
        query.set(`dailyRange.${key}.day`, String(date.getUTCDate()));
      }
      const res = await call(`${PERFORMANCE}/${name}:fetchMultiDailyMetricsTimeSeries?${query}`, accessToken, 'the location’s performance');
      const totals: Record<string, number> = Object.fromEntries(DAILY_METRICS.map((m) => [m, 0]));
      for (const group of read(DailySeries, res).multiDailyMetricTimeSeries ?? []) {
        for (const series of group.dailyMetricTimeSeries ?? []) {
          const sum = (series.timeSeries?.datedValues ?? []).reduce((n, d) => n + (d.value ?? 0), 0);
          totals[series.dailyMetric] = (totals[series.dailyMetric] ?? 0) + sum;
        }
      }
      const impressions = IMPRESSIONS.reduce((n, m) => n + totals[m], 0);
      return {
        followersCount: null,
        followingCount: null,
        postsCount: null,
        engagement: { impressions, clicks: totals.CALL_CLICKS + totals.WEBSITE_CLICKS },
        platformSpecific: {
          businessImpressionsDesktopMaps: totals.BUSINESS_IMPRESSIONS_DESKTOP_MAPS,
          businessImpressionsDesktopSearch: totals.BUSINESS_IMPRESSIONS_DESKTOP_SEARCH,
          businessImpressionsMobileMaps: totals.BUSINESS_IMPRESSIONS_MOBILE_MAPS,
          businessImpressionsMobileSearch: totals.BUSINESS_IMPRESSIONS_MOBILE_SEARCH,
          callClicks: totals.CALL_CLICKS,
          websiteClicks: totals.WEBSITE_CLICKS,
          directionRequests: totals.BUSINESS_DIRECTION_REQUESTS,
        },
      };
    },
  };

  // Calling the v4 API directly: the bearer token, Google's default.
  const api: NetworkApi = { origin: MY_BUSINESS_ORIGIN };

  return { publishing, metrics, api };
}
