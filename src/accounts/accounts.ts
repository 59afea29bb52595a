// Connected social accounts: storing what a connection produced, reading them back for the API.
// Tokens are encrypted and bound to (row id, column), so the row id is chosen before encryption.
import { and, eq, sql } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { Db, DbOrTx, Tx } from '../db/database.ts';
import { columnName, rawQuery, selectList } from '../db/raw.ts';
import { getTableColumns, type Column } from 'drizzle-orm';
import { socialAccounts } from '../db/schema.ts';
import { canonicalNetwork } from '../providers/registry.ts';
import type { SocialAccountView } from '../http/schemas.ts';
import type { AccountType, ConnectableProfile, NetworkId, PublishAccount, TokenSet } from '../providers/types.ts';
import { contexts } from '../security/encrypted-columns.ts';
import { newId } from '../security/ids.ts';
import { nextRefreshTime, refreshable } from '../tokens/schedule.ts';
import type { Keyring } from '../security/keyring.ts';
import { emitEvent, type EventType } from '../webhooks/events.ts';

export type AccountRow = typeof socialAccounts.$inferSelect;

const tokenContext = contexts.accountToken;

export function encryptTokens(keyring: Keyring, id: string, tokens: TokenSet) {
  return {
    accessTokenEnc: keyring.encrypt(tokens.accessToken, tokenContext(id, 'access_token')),
    refreshTokenEnc: tokens.refreshToken ? keyring.encrypt(tokens.refreshToken, tokenContext(id, 'refresh_token')) : null,
    credentialEnc: tokens.credential ? keyring.encrypt(tokens.credential, tokenContext(id, 'credential')) : null,
  };
}

export function decryptTokens(keyring: Keyring, row: AccountRow): TokenSet | undefined {
  if (!row.accessTokenEnc) return undefined;
  return {
    accessToken: keyring.decrypt(row.accessTokenEnc, tokenContext(row.id, 'access_token')),
    refreshToken: row.refreshTokenEnc ? keyring.decrypt(row.refreshTokenEnc, tokenContext(row.id, 'refresh_token')) : undefined,
    credential: row.credentialEnc ? keyring.decrypt(row.credentialEnc, tokenContext(row.id, 'credential')) : undefined,
    expiresAt: row.tokenExpiresAt,
    refreshTokenExpiresAt: row.refreshTokenExpiresAt,
    scopes: row.scopes,
  };
}

/** The stored columns for a new token set. A refresh token is never replaced by an absent one. */
export function tokenColumns(
  keyring: Keyring,
  row: Pick<AccountRow, 'id' | 'refreshTokenEnc' | 'refreshTokenExpiresAt' | 'credentialEnc' | 'scopes'>,
  tokens: TokenSet,
) {
  const enc = encryptTokens(keyring, row.id, tokens);
  return {
    accessTokenEnc: enc.accessTokenEnc,
    refreshTokenEnc: enc.refreshTokenEnc ?? row.refreshTokenEnc,
    credentialEnc: enc.credentialEnc ?? row.credentialEnc,
    tokenExpiresAt: tokens.expiresAt,
    refreshTokenExpiresAt: tokens.refreshToken ? (tokens.refreshTokenExpiresAt ?? null) : row.refreshTokenExpiresAt,
    scopes: tokens.scopes ?? row.scopes,
  };
}

/** A disconnected account keeps its row (and id) but no credentials of any kind. */
export function disconnectedColumns() {
  return {
    status: 'disconnected' as const,
    accessTokenEnc: null,
    refreshTokenEnc: null,
    credentialEnc: null,
    nextRefreshAt: null,
    refreshLeaseUntil: null,
    updatedAt: new Date(),
  };
}

/**
 * The API's view of an account, field by field: `toAccountView` builds it from a row, and the list builds the
 * same JSON inside PostgreSQL from this map (listAccountsJson). Timestamps are ISO 8601 in UTC, to the
 * millisecond, in both.
 */
const VIEW_FIELDS = {
  id: socialAccounts.id,
  network: socialAccounts.network,
  network_unique_id: socialAccounts.networkUniqueId,
  username: socialAccounts.username,
  nickname: socialAccounts.nickname,
  profile_picture_url: socialAccounts.profilePictureUrl,
  account_type: socialAccounts.accountType,
  tenant_id: socialAccounts.tenantId,
  workspace_id: socialAccounts.workspaceId,
  status: socialAccounts.status,
  token_expires_at: socialAccounts.tokenExpiresAt,
  scopes: socialAccounts.scopes,
  created_at: socialAccounts.createdAt,
  updated_at: socialAccounts.updatedAt,
} satisfies Record<keyof SocialAccountView, Column>;

const viewEntries = Object.entries(VIEW_FIELDS).map(([field, column]) => {
  const prop = Object.entries(getTableColumns(socialAccounts)).find(([, c]) => c === column)![0] as keyof ListedAccount;
  return { field, prop, column, isTime: column.columnType === 'PgTimestamp', isArray: column.columnType === 'PgArray' };
});

export function toAccountView(row: ListedAccount): SocialAccountView {
  const view: Record<string, unknown> = {};
  for (const { field, prop, isTime } of viewEntries) {
    const value = row[prop];
    view[field] = isTime ? ((value as Date | null)?.toISOString() ?? null) : value;
  }
  return view as SocialAccountView;
}

/**
 * The list's select list and its serializer, both from VIEW_FIELDS, so a listed account and GET …/{id} cannot
 * drift apart (test/hot-paths.test.ts holds the two equal). Every column comes back as text, the same on both
 * drivers and with no type parsing: timestamps as UTC timestamp text, scopes as a JSON array. Measured on a
 * 50-row page: PostgreSQL building the page's JSON itself (json_build_object, to_char) doubled the query's time
 * (1.1 ms against 0.6 ms), and in Node a Date per timestamp and JSON.stringify per string cost ~0.2 ms more
 * than the slicing and the escape check below.
 */
const listSelect = viewEntries
  .map(({ field, column, isTime, isArray }) => {
    const name = columnName(column);
    if (isTime) return `(${name} at time zone 'UTC')::text as "${field}"`;
    if (isArray) return `array_to_json(${name})::text as "${field}"`;
    return `${name} as "${field}"`;
  })
  .join(', ');

// Only these need JSON escapes: quote, backslash, control characters, and lone surrogates (a UTF-16 half that
// JSON.stringify writes as \uXXXX). Anything else goes between quotes as it is.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const jsonString = (text: string) => (NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`);

// PostgreSQL's timestamp text (DateStyle ISO, which node-postgres and PGlite both require):
// 'YYYY-MM-DD HH:MM:SS' and an optional fraction of up to six digits.
const TIMESTAMP_TEXT = /^(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?$/;

/** A UTC timestamp's text as the JSON string toISOString() gives its Date: milliseconds cut, not rounded. */
function isoTimestampJson(text: string): string {
  const m = TIMESTAMP_TEXT.exec(text);
  if (m) return `"${m[1]}-${m[2]}-${m[3]}T${m[4]}.${(m[5] ?? '').slice(0, 3).padEnd(3, '0')}Z"`;
  // Beyond year 9999, BC or infinity: shown as PostgreSQL wrote it rather than failing the whole page.
  return JSON.stringify(text);
}

const listEncoders = viewEntries.map(({ field, isTime, isArray }, i) => ({
  prefix: `${i ? ',' : '{'}${JSON.stringify(field)}:`,
  encode: isTime ? isoTimestampJson : isArray ? (json: string) => json : jsonString,
}));

const ID_INDEX = viewEntries.findIndex(({ field }) => field === 'id');

/** One listed row (its values in listSelect's order) as the account view's JSON: toAccountView's, serialised. */
function listedJson(row: (string | null)[]): string {
  let json = '';
  for (let i = 0; i < listEncoders.length; i++) {
    const { prefix, encode } = listEncoders[i];
    const value = row[i];
    json += prefix + (value === null ? 'null' : encode(value));
  }
  return json + '}';
}

/** Emits an account event (the account as the API shows it: never tokens) in the caller's transaction. */
/** The account as an adapter sees it when it publishes or is called for it. */
export function publishAccountOf(row: AccountRow): PublishAccount {
  return { networkUniqueId: row.networkUniqueId, username: row.username, accountType: row.accountType as AccountType, metadata: row.metadata };
}

export function emitAccountEvent(tx: DbOrTx, row: AccountRow, type: EventType, extra: Record<string, unknown> = {}) {
  return emitEvent(tx, row.orgId, type, { account: toAccountView(row), ...extra });
}

export interface ConnectTarget {
  orgId: string;
  network: NetworkId;
  tenantId: string | null;
  workspaceId: string | null;
  /** A reconnect: the one account to update (it keeps its id), whatever tenant or workspace it has. */
  accountId?: string | null;
}

/** The rows of this network account for this organization, workspace and tenant (the identity index; nulls equal). */
export function sameIdentity(target: Omit<ConnectTarget, 'accountId'>, networkUniqueId: string) {
  return and(
    eq(socialAccounts.orgId, target.orgId),
    eq(socialAccounts.network, target.network),
    eq(socialAccounts.networkUniqueId, networkUniqueId),
    sql`coalesce(${socialAccounts.workspaceId}, '') = ${target.workspaceId ?? ''}`,
    sql`coalesce(${socialAccounts.tenantId}, '') = ${target.tenantId ?? ''}`,
  );
}

/**
 * The account this profile is already connected as for this target, locked for the update: the reconnected
 * account itself, or the same network account connected before for the same organization, workspace and tenant
 * (the identity index; nulls compare equal). Another tenant's or workspace's account of the same network account
 * is never it: each has its own tokens.
 */
async function existingAccount(tx: Tx, target: ConnectTarget, profile: ConnectableProfile): Promise<AccountRow | undefined> {
  const where = target.accountId
    ? and(eq(socialAccounts.orgId, target.orgId), eq(socialAccounts.id, target.accountId))
    : sameIdentity(target, profile.networkUniqueId);
  const [row] = await tx.select().from(socialAccounts).where(where).for('update');
  return row;
}

/**
 * Creates or updates the accounts for the chosen profiles, in the caller's transaction, with their webhook events
 * (`account.connected` for a new account, `account.reconnected` for one connected before). The same network
 * account connected again for the same workspace and tenant keeps its id: never a duplicate (existingAccount).
 */
export async function upsertConnectedAccounts(ctx: AppContext, tx: Tx, target: ConnectTarget, profiles: ConnectableProfile[]) {
  const adapter = ctx.adapters.get(target.network);
  const rows: AccountRow[] = [];
  for (const profile of profiles) {
    const existing = await existingAccount(tx, target, profile);
    const now = new Date();
    const fresh = {
      username: profile.username,
      nickname: profile.nickname,
      profilePictureUrl: profile.profilePictureUrl,
      accountType: profile.accountType,
      metadata: profile.metadata ?? {},
      status: 'active' as const,
      nextRefreshAt: nextRefreshTime(profile.tokens.expiresAt, refreshable(adapter, profile.tokens, profile.metadata ?? {})),
      refreshLeaseUntil: null,
      expiringNotifiedAt: null,
      refreshFailures: 0,
      lastError: null,
      lastRefreshedAt: now,
      updatedAt: now,
    };
    let row: AccountRow;
    if (existing) {
      [row] = await tx
        .update(socialAccounts)
        .set({
          ...fresh,
          ...tokenColumns(ctx.keyring, existing, profile.tokens),
          tenantId: target.tenantId ?? existing.tenantId,
          workspaceId: target.workspaceId ?? existing.workspaceId,
        })
        .where(eq(socialAccounts.id, existing.id))
        .returning();
    } else {
      const id = newId();
      [row] = await tx
        .insert(socialAccounts)
        .values({
          id,
          orgId: target.orgId,
          network: target.network,
          networkUniqueId: profile.networkUniqueId,
          tenantId: target.tenantId,
          workspaceId: target.workspaceId,
          ...fresh,
          ...tokenColumns(ctx.keyring, { id, refreshTokenEnc: null, refreshTokenExpiresAt: null, credentialEnc: null, scopes: [] }, profile.tokens),
        })
        .returning();
    }
    await emitAccountEvent(tx, row, existing ? 'account.reconnected' : 'account.connected');
    rows.push(row);
  }
  return rows;
}

export async function findAccount(db: DbOrTx, orgId: string, id: string): Promise<AccountRow | undefined> {
  const [row] = await db
    .select()
    .from(socialAccounts)
    .where(and(eq(socialAccounts.orgId, orgId), eq(socialAccounts.id, id)));
  return row;
}

/** Any organization's account: for background work only, never for a request's caller. */
export async function findAccountById(db: DbOrTx, id: string): Promise<AccountRow | undefined> {
  const [row] = await db.select().from(socialAccounts).where(eq(socialAccounts.id, id));
  return row;
}

export interface AccountFilters {
  tenantId?: string;
  workspaceId?: string;
  network?: string;
  networkUniqueId?: string;
  username?: string;
  status?: AccountRow['status'];
}

function escapeLike(value: string) {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** What a list shows of an account: every column but the encrypted credentials (never listed, and most of a row's bytes). */
export type ListedAccount = Omit<AccountRow, 'accessTokenEnc' | 'refreshTokenEnc' | 'credentialEnc'>;
const LISTED_COLUMNS = selectList(socialAccounts, ['accessTokenEnc', 'refreshTokenEnc', 'credentialEnc']);
const c = {
  id: columnName(socialAccounts.id),
  orgId: columnName(socialAccounts.orgId),
  tenantId: columnName(socialAccounts.tenantId),
  workspaceId: columnName(socialAccounts.workspaceId),
  network: columnName(socialAccounts.network),
  networkUniqueId: columnName(socialAccounts.networkUniqueId),
  username: columnName(socialAccounts.username),
  status: columnName(socialAccounts.status),
};

/**
 * An organization's accounts in id (creation) order, filtered; `cursor` (the last id of the previous page) pages
 * by keyset, so any depth costs one index range scan (`offset` is there for clients that page that way). Rows
 * for the dashboard; the API's list is listAccountsJson. Both run on the driver (db/raw.ts): Drizzle's builder
 * and row mapping cost more CPU than the query itself on a 50-row page.
 */
export async function listAccounts(db: Db, orgId: string, filters: AccountFilters, page: ListPage & { newestFirst?: boolean }): Promise<ListedAccount[]> {
  const { where, params, limitOffset } = listQuery(orgId, filters, page);
  return rawQuery<ListedAccount>(db, `select ${LISTED_COLUMNS} from "social_accounts" where ${where} order by ${c.id}${page.newestFirst ? ' desc' : ''} ${limitOffset}`, params);
}

/** How many of an organization's accounts match the filters (the dashboard shows it above its pages). */
export async function countAccounts(db: Db, orgId: string, filters: AccountFilters): Promise<number> {
  const { where, params } = listQuery(orgId, filters, { limit: 0, offset: 0 });
  const [row] = await rawQuery<{ n: string }>(db, `select count(*) as n from "social_accounts" where ${where}`, params.slice(0, -2));
  return Number(row?.n ?? 0);
}

// The statement's text for each combination of filters (a handful), built once: the same string each time
// also spares re-hashing it to find its prepared statement.
const listStatements = new Map<string, string>();

/**
 * The same page as the API's JSON: `data` is the JSON array of account views (VIEW_FIELDS), ready to go into
 * the response as it is. Rows come back as text and are written straight out (listedJson): no Date, no object
 * per account, no serializer pass over the page.
 */
export async function listAccountsJson(
  db: Db,
  orgId: string,
  filters: AccountFilters,
  page: ListPage,
): Promise<{ data: string; count: number; lastId: string | null; more: boolean }> {
  // One row more than the page: whether another page follows, so the last page carries no next_cursor.
  const { where, params, limitOffset } = listQuery(orgId, filters, { ...page, limit: page.limit + 1 });
  const key = `${where} ${limitOffset}`;
  let text = listStatements.get(key);
  if (!text) {
    // The page is cut in a subquery first, so the select list formats only its rows: on the outer query it
    // also formatted every row an `offset` skips (at offset 900,000, that was the whole cost).
    text = `select ${listSelect} from (select * from "social_accounts" where ${where} order by ${c.id} ${limitOffset}) as page order by ${c.id}`;
    listStatements.set(key, text);
  }
  // One text per combination of filters: a handful in practice, each prepared once per connection.
  const fetched = await rawQuery<(string | null)[]>(db, text, params, { prepare: true, rowMode: 'array' });
  const rows = fetched.slice(0, page.limit);
  return { data: `[${rows.map(listedJson).join(',')}]`, count: rows.length, lastId: rows.at(-1)?.[ID_INDEX] ?? null, more: fetched.length > page.limit };
}

/**
 * One page of the API's account list (`GET /v1/social-accounts`, the MCP tool `list_social_accounts`): `data` is
 * the JSON text of listAccountsJson; a network may be named by an alias (`twitter`); the last page has no
 * next_cursor (listAccountsJson looks one row further to know).
 */
export async function accountsPage(db: Db, orgId: string, filters: AccountFilters, page: ListPage) {
  const network = filters.network ? (canonicalNetwork(filters.network) ?? filters.network) : undefined;
  const found = await listAccountsJson(db, orgId, { ...filters, network }, page);
  return { data: found.data, count: found.count, limit: page.limit, offset: page.cursor ? 0 : page.offset, next_cursor: found.more ? found.lastId : null };
}

export interface ListPage {
  limit: number;
  offset: number;
  cursor?: string;
}

function listQuery(orgId: string, filters: AccountFilters, page: ListPage & { newestFirst?: boolean }) {
  const params: unknown[] = [orgId];
  const where = [`${c.orgId} = $1`];
  const add = (condition: (param: string) => string, value: unknown) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (filters.tenantId !== undefined) add((p) => `${c.tenantId} = ${p}`, filters.tenantId);
  if (filters.workspaceId !== undefined) add((p) => `${c.workspaceId} = ${p}`, filters.workspaceId);
  if (filters.network) add((p) => `${c.network} = ${p}`, filters.network);
  if (filters.networkUniqueId) add((p) => `${c.networkUniqueId} = ${p}`, filters.networkUniqueId);
  if (filters.username) add((p) => `${c.username} ilike ${p}`, `%${escapeLike(filters.username)}%`);
  if (filters.status) add((p) => `${c.status} = ${p}`, filters.status);
  if (page.cursor) add((p) => `${c.id} ${page.newestFirst ? '<' : '>'} ${p}`, page.cursor);
  params.push(page.limit, page.cursor ? 0 : page.offset);
  return { where: where.join(' and '), params, limitOffset: `limit $${params.length - 1} offset $${params.length}` };
}
