// Connected social accounts: storing what a connection produced, reading them back for the API.
// Tokens are encrypted and bound to (row id, column), so the row id is chosen before encryption.
import { and, asc, eq, gt, ilike, type SQL } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx, Tx } from '../db/database.ts';
import { socialAccounts } from '../db/schema.ts';
import type { SocialAccountView } from '../http/schemas.ts';
import type { ConnectableProfile, NetworkId, TokenSet } from '../providers/types.ts';
import { newId } from '../security/ids.ts';
import { nextRefreshTime, refreshable } from '../tokens/schedule.ts';
import type { Keyring } from '../security/keyring.ts';
import { emitEvent, type EventType } from '../webhooks/events.ts';

export type AccountRow = typeof socialAccounts.$inferSelect;

const tokenContext = (id: string, column: 'access_token' | 'refresh_token' | 'credential') => `social_accounts:${id}:${column}`;

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

export function toAccountView(row: AccountRow): SocialAccountView {
  return {
    id: row.id,
    network: row.network,
    network_unique_id: row.networkUniqueId,
    username: row.username,
    nickname: row.nickname,
    profile_picture_url: row.profilePictureUrl,
    account_type: row.accountType as SocialAccountView['account_type'],
    tenant_id: row.tenantId,
    workspace_id: row.workspaceId,
    status: row.status,
    token_expires_at: row.tokenExpiresAt?.toISOString() ?? null,
    scopes: row.scopes,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** Emits an account event (the account as the API shows it: never tokens) in the caller's transaction. */
export function emitAccountEvent(tx: DbOrTx, row: AccountRow, type: EventType, extra: Record<string, unknown> = {}) {
  return emitEvent(tx, row.orgId, type, { account: toAccountView(row), ...extra });
}

export interface ConnectTarget {
  orgId: string;
  network: NetworkId;
  tenantId: string | null;
  workspaceId: string | null;
}

/**
 * Creates or updates the accounts for the chosen profiles, in the caller's transaction, with their webhook events
 * (`account.connected` for a new account, `account.reconnected` for one connected before). The same network
 * account connected again keeps its id (unique on org + network + network_unique_id): never a duplicate.
 */
export async function upsertConnectedAccounts(ctx: AppContext, tx: Tx, target: ConnectTarget, profiles: ConnectableProfile[]) {
  const adapter = ctx.adapters.get(target.network);
  const rows: AccountRow[] = [];
  for (const profile of profiles) {
    const [existing] = await tx
      .select()
      .from(socialAccounts)
      .where(
        and(
          eq(socialAccounts.orgId, target.orgId),
          eq(socialAccounts.network, target.network),
          eq(socialAccounts.networkUniqueId, profile.networkUniqueId),
        ),
      )
      .for('update');
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

/**
 * One page of an organization's accounts in id (creation) order. With `cursor` (the last id of the previous
 * page) the database seeks straight to the page through the (org, tenant, id) / (org, id) indexes, so deep
 * pages cost the same as the first; `offset` is supported for clients that page that way.
 */
export async function listAccounts(
  db: DbOrTx,
  orgId: string,
  filters: AccountFilters,
  page: { limit: number; offset: number; cursor?: string },
): Promise<AccountRow[]> {
  const where: SQL[] = [eq(socialAccounts.orgId, orgId)];
  if (filters.tenantId !== undefined) where.push(eq(socialAccounts.tenantId, filters.tenantId));
  if (filters.workspaceId !== undefined) where.push(eq(socialAccounts.workspaceId, filters.workspaceId));
  if (filters.network) where.push(eq(socialAccounts.network, filters.network));
  if (filters.networkUniqueId) where.push(eq(socialAccounts.networkUniqueId, filters.networkUniqueId));
  if (filters.username) where.push(ilike(socialAccounts.username, `%${escapeLike(filters.username)}%`));
  if (filters.status) where.push(eq(socialAccounts.status, filters.status));
  if (page.cursor) where.push(gt(socialAccounts.id, page.cursor));
  return db
    .select()
    .from(socialAccounts)
    .where(and(...where))
    .orderBy(asc(socialAccounts.id))
    .limit(page.limit)
    .offset(page.cursor ? 0 : page.offset);
}
