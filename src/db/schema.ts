// The one schema, for PGlite and PostgreSQL alike. Migrations in `db/migrations` are generated from it
// with `npm run db:generate` (drizzle-kit) and applied on start.
import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, foreignKey, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uniqueIndex } from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const organizations = pgTable('organizations', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** Contact address, reported by the Ocoya surface's `GET /me`. */
  email: text('email'),
  /** Branding of the hosted pages (`/v1/branding`); the display name is `name`. */
  logoUrl: text('logo_url'),
  /** `#rrggbb`, the button colour of the hosted pages. */
  accentColor: text('accent_color'),
  supportUrl: text('support_url'),
  createdAt: createdAt(),
});

/** Dashboard sign-ins: the cookie carries a random id, stored here as its SHA-256 (never the API key). */
export const dashboardSessions = pgTable(
  'dashboard_sessions',
  {
    idHash: text('id_hash').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    /** The key signed in with: revoking it ends the session. */
    keyId: text('key_id').notNull(),
    /** Every dashboard form carries it; a POST without the session's token is refused. */
    csrfToken: text('csrf_token').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('dashboard_sessions_expires_idx').on(t.expiresAt)],
);

export const workspaces = pgTable(
  'workspaces',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [index('workspaces_org_idx').on(t.orgId)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** SHA-256 of the key; the key itself is shown once and never stored. */
    keyHash: text('key_hash').notNull(),
    /** First characters of the key, to tell keys apart in listings. */
    keyPrefix: text('key_prefix').notNull(),
    /** `admin` keys may also manage organizations. */
    role: text('role', { enum: ['admin', 'standard'] }).notNull().default('standard'),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_hash_idx').on(t.keyHash), index('api_keys_org_idx').on(t.orgId)],
);

/** An organization's own OAuth app for one network (`/v1/social-networks`). */
export const networkConfigs = pgTable(
  'network_configs',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    network: text('network').notNull(),
    clientKey: text('client_key').notNull(),
    /** Encrypted, bound to this row's id. */
    clientSecretEnc: text('client_secret_enc'),
    /** `null` → the adapter's default scopes. */
    scopes: text('scopes').array(),
    /** Network-specific settings validated by the adapter's `optionsSchema` (e.g. Instagram's login method). */
    options: jsonb('options').$type<Record<string, unknown>>().notNull().default({}),
    /** Exact allowlist for `auth-url`'s `redirect_uri`. */
    redirectUris: text('redirect_uris').array().notNull().default(sql`'{}'::text[]`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('network_configs_org_network_idx').on(t.orgId, t.network),
    // The target of connect_flows' (org_id, network_config_id) foreign key.
    unique('network_configs_org_id_id_unique').on(t.orgId, t.id),
  ],
);

/** One connection attempt, from `auth-url` to the account(s) it produced. Secrets are stored hashed. */
export const connectFlows = pgTable(
  'connect_flows',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    network: text('network').notNull(),
    networkConfigId: text('network_config_id').notNull(),
    // A flow's row is made when its start link is opened (connect/start-links.ts), already `authorizing`;
    // `created` is the state of rows written at auth-url time by versions before that.
    status: text('status', { enum: ['created', 'authorizing', 'selecting', 'completed', 'failed'] }).notNull(),
    /** SHA-256 of the start link's nonce (unique: a link makes one flow), or of the start token of older versions. */
    startTokenHash: text('start_token_hash').notNull(),
    stateHash: text('state_hash'),
    browserBindingHash: text('browser_binding_hash'),
    /** PKCE verifier, encrypted. */
    codeVerifierEnc: text('code_verifier_enc'),
    /** Selection session (hosted page or headless picker), hashed. */
    sessionHash: text('session_hash'),
    /** Profiles offered for selection, with their tokens: encrypted JSON. */
    pendingProfilesEnc: text('pending_profiles_enc'),
    redirectUri: text('redirect_uri'),
    tenantId: text('tenant_id'),
    workspaceId: text('workspace_id'),
    /** Reconnect: the account this flow must update. */
    accountId: text('account_id'),
    selection: text('selection', { enum: ['hosted', 'headless'] }).notNull(),
    /**
     * The start URL opens a branded "Continue to {network}" page whose button starts the flow, instead of redirecting
     * at once: for links made to be forwarded (the dashboard's reconnect link), which chat apps and mail scanners
     * open to preview before the person does.
     */
    startPage: boolean('start_page').notNull().default(false),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    // One key for both: the flow's app configuration, which must be its own organization's. It cascades from
    // the organization through network_configs, and costs one check per inserted row instead of two (a key
    // check was ~15 % of PostgreSQL's work for an auth-url flow row).
    foreignKey({
      name: 'connect_flows_network_config_fk',
      columns: [t.orgId, t.networkConfigId],
      foreignColumns: [networkConfigs.orgId, networkConfigs.id],
    }).onDelete('cascade'),
    uniqueIndex('connect_flows_start_idx').on(t.startTokenHash),
    uniqueIndex('connect_flows_state_idx').on(t.stateHash),
    uniqueIndex('connect_flows_session_idx').on(t.sessionHash),
    index('connect_flows_expires_idx').on(t.expiresAt),
  ],
);

export const socialAccounts = pgTable(
  'social_accounts',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id'),
    network: text('network').notNull(),
    networkUniqueId: text('network_unique_id').notNull(),
    username: text('username'),
    nickname: text('nickname'),
    profilePictureUrl: text('profile_picture_url'),
    accountType: text('account_type').notNull(),
    tenantId: text('tenant_id'),
    status: text('status', { enum: ['active', 'reauth_required', 'disconnected'] }).notNull().default('active'),
    /** Encrypted, bound to this row's id and column. */
    accessTokenEnc: text('access_token_enc'),
    refreshTokenEnc: text('refresh_token_enc'),
    /** A reusable login credential (a Bluesky app password) to start a new session when the refresh token is dead. */
    credentialEnc: text('credential_enc'),
    tokenExpiresAt: timestamp('token_expires_at', { withTimezone: true }),
    refreshTokenExpiresAt: timestamp('refresh_token_expires_at', { withTimezone: true }),
    scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
    /** Network-specific facts the adapter needs later (e.g. the parent user id of a Page). Never secrets. */
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    /**
     * Publishing options a post to this account gets when it does not give them itself (a Pinterest board, TikTok's
     * privacy level), validated by the adapter's `optionsSchema`. Not secrets: stored as they are.
     */
    publishingDefaults: jsonb('publishing_defaults').$type<Record<string, unknown>>().notNull().default({}),
    /** When the background engine should refresh next (ahead of expiry, with jitter); null = nothing to do. */
    nextRefreshAt: timestamp('next_refresh_at', { withTimezone: true }),
    /** A refresh is under way until then (any process); an expired lease means its holder died. */
    refreshLeaseUntil: timestamp('refresh_lease_until', { withTimezone: true }),
    /** `account.expiring` was sent for the current grant. */
    expiringNotifiedAt: timestamp('expiring_notified_at', { withTimezone: true }),
    refreshFailures: integer('refresh_failures').notNull().default(0),
    lastRefreshedAt: timestamp('last_refreshed_at', { withTimezone: true }),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // A network account is connected once per organization, workspace and tenant: the same Page connected for
    // two tenants (co-admins do this) is two accounts with their own tokens. Nulls compare equal here.
    uniqueIndex('social_accounts_identity_idx').on(
      t.orgId,
      t.network,
      t.networkUniqueId,
      sql`coalesce(${t.workspaceId}, '')`,
      sql`coalesce(${t.tenantId}, '')`,
    ),
    index('social_accounts_org_id_idx').on(t.orgId, t.id),
    index('social_accounts_org_tenant_idx').on(t.orgId, t.tenantId, t.id),
    index('social_accounts_refresh_idx').on(t.nextRefreshAt).where(sql`status = 'active'`),
  ],
);

/** Storage for the sandbox authorization server (oidc-provider's adapter models). */
export const sandboxOidcModels = pgTable(
  'sandbox_oidc_models',
  {
    kind: text('kind').notNull(),
    id: text('id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    grantId: text('grant_id'),
    userCode: text('user_code'),
    uid: text('uid'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    consumedAt: timestamp('consumed_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.id] }),
    index('sandbox_oidc_grant_idx').on(t.grantId),
    index('sandbox_oidc_uid_idx').on(t.uid),
  ],
);

/** Request counters shared by every process (rate-limiter-flexible's Drizzle store). */
export const rateLimits = pgTable('rate_limits', {
  key: text('key').primaryKey(),
  points: integer('points').notNull().default(0),
  expire: timestamp('expire', { withTimezone: true }),
});

/**
 * One row per running worker (`switchboard worker`, or the worker inside `serve`), its `beat_at` renewed every few
 * seconds: `/ready` reads the freshest. Unlogged: a beat is worthless after a minute, and a crash that empties the
 * table only means "no recent heartbeat" until the workers' next beat.
 */
export const workerHeartbeats = pgTable('worker_heartbeats', {
  id: text('id').primaryKey(),
  /** Host name and process id, for the operator reading the table. */
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
  beatAt: timestamp('beat_at', { withTimezone: true }).notNull(),
});

export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    description: text('description'),
    /** Event types delivered here; empty = all. */
    events: text('events').array().notNull().default(sql`'{}'::text[]`),
    /** Standard Webhooks signing secret (`whsec_…`), encrypted. */
    secretEnc: text('secret_enc').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    /** Every delivery since then has failed; cleared by a success. */
    failingSince: timestamp('failing_since', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('webhook_endpoints_org_idx').on(t.orgId)],
);

/** The outbox: written in the same transaction as the change it reports. */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('webhook_events_org_idx').on(t.orgId, t.id)],
);

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull().references(() => webhookEvents.id, { onDelete: 'cascade' }),
    endpointId: text('endpoint_id').notNull().references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When the next attempt is due; while an attempt runs, its lease (pushed ahead so no one else takes it). */
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastStatusCode: integer('last_status_code'),
    /** The start of the receiver's last answer (or the transport error), for the delivery log. */
    lastResponse: text('last_response'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('webhook_deliveries_endpoint_idx').on(t.endpointId, t.id),
  ],
);

/**
 * `Idempotency-Key` on POST requests (PRODUCT.md, "API hygiene"): the first response to a key is kept for 24 hours
 * and answered again to the same request; the same key with another request is refused.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    /** SHA-256 of the method, path, query and body: the same key sent with another request is a 409. */
    fingerprint: text('fingerprint').notNull(),
    /** While the first request runs; a key whose holder died (lock passed, no response) can be taken again. */
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    responseStatus: integer('response_status'),
    /** The first response (status, content type, body), encrypted: it may carry a secret that is shown once. */
    responseEnc: text('response_enc'),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.key] }), index('idempotency_keys_expires_idx').on(t.expiresAt)],
);

/**
 * Secrets the installation makes for itself (the sandbox's client secret, its cookie and signing keys): random,
 * encrypted like every other secret, so they survive a change of encryption keys (`switchboard keys reencrypt`).
 */
export const internalSecrets = pgTable('internal_secrets', {
  name: text('name').primaryKey(),
  valueEnc: text('value_enc').notNull(),
  createdAt: createdAt(),
});

/**
 * Uploaded and imported files (`/v1/media`). The bytes live in the media store (the filesystem under DATA_DIR, or an
 * S3-compatible bucket) under `storage_key`; type, size, dimensions and duration are read from the bytes on confirm.
 */
export const media = pgTable(
  'media',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    filename: text('filename').notNull(),
    /** What the client said the type was (kept for the record; never trusted). */
    declaredContentType: text('declared_content_type'),
    /** Read from the bytes on confirm. */
    contentType: text('content_type'),
    kind: text('kind', { enum: ['image', 'gif', 'video'] }),
    size: bigint('size', { mode: 'number' }),
    width: integer('width'),
    height: integer('height'),
    durationSeconds: doublePrecision('duration_seconds'),
    /** `pending` until the bytes are confirmed; `deleted` once removed from the store. */
    status: text('status', { enum: ['pending', 'active', 'deleted'] }).notNull().default('pending'),
    storageKey: text('storage_key').notNull(),
    /** Imported from this URL (`POST /v1/media {url}`, a container's `{url}`). */
    sourceUrl: text('source_url'),
    /** 60 days after upload; kept longer while a scheduled post still needs it. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
    confirmedAt: timestamp('confirmed_at', { withTimezone: true }),
  },
  (t) => [index('media_org_idx').on(t.orgId, t.id), index('media_expires_idx').on(t.expiresAt).where(sql`status <> 'deleted'`)],
);

export interface StoredContainer {
  id: string;
  content: string;
  media: Array<{ id: string; alt: string | null }>;
}

export const POST_STATUSES = ['draft', 'scheduled', 'publishing', 'published', 'partial', 'failed', 'cancelled'] as const;

/** A post: its containers (the first is the post, the rest a thread or comments) and per-network options. */
export const posts = pgTable(
  'posts',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id'),
    tenantId: text('tenant_id'),
    status: text('status', { enum: POST_STATUSES }).notNull(),
    isDraft: boolean('is_draft').notNull().default(false),
    /** When it was asked to go out; null = at once (or a draft without a time). */
    scheduledAt: timestamp('scheduled_at', { withTimezone: true }),
    /** When its last target finished publishing. */
    publishedAt: timestamp('published_at', { withTimezone: true }),
    containers: jsonb('containers').$type<StoredContainer[]>().notNull(),
    /** Per-network options, by network id (`{"x": {…}}`), each validated by its adapter's schema. */
    options: jsonb('options').$type<Record<string, Record<string, unknown>>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('posts_org_idx').on(t.orgId, t.id), index('posts_org_scheduled_idx').on(t.orgId, t.scheduledAt)],
);

export const TARGET_STATUSES = ['pending', 'publishing', 'published', 'failed', 'cancelled'] as const;

/** Where one container stands at the network, for one target. */
export interface TargetPart {
  index: number;
  /** `creating`: the create request may have been sent (the outcome is the network's to tell); `published`: done. */
  phase: 'preparing' | 'creating' | 'processing' | 'published';
  /** The adapter's own progress (uploaded media ids, a record key chosen in advance). */
  saved: Record<string, unknown>;
  /** When the network started processing it (media, a container), ISO time; the engine gives up after hours. */
  processingSince?: string;
  id?: string;
  url?: string | null;
  data?: Record<string, unknown>;
}

/**
 * One (post, account) pair: published and tracked on its own. Workers claim due rows (`due_at <= now`, lease free)
 * with FOR UPDATE SKIP LOCKED, as refreshes are claimed.
 */
export const postTargets = pgTable(
  'post_targets',
  {
    id: text('id').primaryKey(),
    postId: text('post_id').notNull().references(() => posts.id, { onDelete: 'cascade' }),
    orgId: text('org_id').notNull(),
    accountId: text('account_id').notNull(),
    network: text('network').notNull(),
    status: text('status', { enum: TARGET_STATUSES }).notNull().default('pending'),
    /** When a worker should take it next; null while the post is a draft or the target is finished. */
    dueAt: timestamp('due_at', { withTimezone: true }),
    /** A worker is on it until then; an expired lease means its worker died. */
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    errorCategory: text('error_category'),
    platformPostId: text('platform_post_id'),
    platformPostUrl: text('platform_post_url'),
    /**
     * This target's options as preflight checked them: the post's own for its network over the account's
     * publishing defaults at the time the post was accepted. Null for targets from before defaults existed (they
     * use the post's options).
     */
    options: jsonb('options').$type<Record<string, unknown>>(),
    parts: jsonb('parts').$type<TargetPart[]>().notNull().default([]),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    /** `DELETE /v1/posts/{id}/remote` removed it from the network. */
    remoteDeletedAt: timestamp('remote_deleted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('post_targets_post_idx').on(t.postId),
    index('post_targets_account_idx').on(t.accountId),
    index('post_targets_due_idx').on(t.dueAt).where(sql`status in ('pending', 'publishing')`),
  ],
);

/** The sandbox network's own posts (its resource server, `/sandbox/api/posts`): what its timeline page shows. */
export const sandboxPosts = pgTable(
  'sandbox_posts',
  {
    id: text('id').primaryKey(),
    /** The sandbox identity (a user's or a page's id) that posted it. */
    authorId: text('author_id').notNull(),
    text: text('text').notNull(),
    mediaIds: text('media_ids').array().notNull().default(sql`'{}'::text[]`),
    replyToId: text('reply_to_id'),
    /** The caller's `Idempotency-Key`: the same key from the same author answers the first post again. */
    idempotencyKey: text('idempotency_key'),
    createdAt: createdAt(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    index('sandbox_posts_author_idx').on(t.authorId, t.createdAt),
    uniqueIndex('sandbox_posts_idempotency_idx').on(t.authorId, t.idempotencyKey),
  ],
);

/** Media uploaded to the sandbox network: the bytes live in the media store under `storage_key` (as ours do). */
export const sandboxMedia = pgTable('sandbox_media', {
  id: text('id').primaryKey(),
  authorId: text('author_id').notNull(),
  contentType: text('content_type').notNull(),
  storageKey: text('storage_key').notNull(),
  size: bigint('size', { mode: 'number' }).notNull(),
  createdAt: createdAt(),
});
