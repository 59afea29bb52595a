// An organization's own OAuth app per network. The client secret is encrypted, bound to its row, and never
// leaves this module except to an adapter.
import { and, eq, ne, or } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { disconnectedColumns, emitAccountEvent } from '../accounts/accounts.ts';
import type { AppContext } from '../context.ts';
import { callbackUrl } from '../context.ts';
import { perDatabase, type Db, type DbOrTx } from '../db/database.ts';
import { connectFlows, networkConfigs, socialAccounts } from '../db/schema.ts';
import { contexts } from '../security/encrypted-columns.ts';
import { newId } from '../security/ids.ts';
import type { AppCredentials, NetworkAdapter, NetworkId } from '../providers/types.ts';

export type NetworkConfigRow = typeof networkConfigs.$inferSelect;

const secretContext = contexts.networkConfigClientSecret;

export interface NetworkConfigView {
  id: string;
  network: string;
  client_key: string;
  scopes: string[];
  options: Record<string, unknown>;
  redirect_uris: string[];
  /** Register this exact URL as the redirect/callback URL in the app's settings at the network. */
  callback_url: string;
  has_client_secret: boolean;
  created_at: string;
  updated_at: string;
}

export function toView(ctx: AppContext, row: NetworkConfigRow): NetworkConfigView {
  const adapter = ctx.adapters.get(row.network as NetworkId);
  return {
    id: row.id,
    network: row.network,
    client_key: row.clientKey,
    scopes: row.scopes ?? (adapter ? defaultScopes(adapter, row.options) : []),
    options: row.options,
    redirect_uris: row.redirectUris,
    callback_url: callbackUrl(ctx.config.publicUrl, row.network),
    has_client_secret: Boolean(row.clientSecretEnc),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface SaveNetworkConfig {
  clientKey?: string;
  clientSecret?: string;
  scopes?: string[];
  redirectUris?: string[];
  options?: Record<string, unknown>;
}

/** Creates or replaces the organization's app for a network. */
export async function saveNetworkConfig(
  ctx: AppContext,
  orgId: string,
  adapter: NetworkAdapter,
  input: SaveNetworkConfig,
): Promise<{ row: NetworkConfigRow; created: boolean }> {
  const [existing] = await ctx.db
    .select({ id: networkConfigs.id })
    .from(networkConfigs)
    .where(and(eq(networkConfigs.orgId, orgId), eq(networkConfigs.network, adapter.network)));
  const id = existing?.id ?? newId();
  const clientKey = input.clientKey ?? adapter.builtInApp?.clientId ?? '';
  const secret = input.clientSecret ?? (input.clientKey ? undefined : adapter.builtInApp?.clientSecret);
  const values = {
    clientKey,
    clientSecretEnc: secret ? ctx.keyring.encrypt(secret, secretContext(id)) : null,
    scopes: input.scopes ?? null,
    options: input.options ?? {},
    redirectUris: input.redirectUris ?? [],
    updatedAt: new Date(),
  };
  const [row] = await ctx.db
    .insert(networkConfigs)
    .values({ id, orgId, network: adapter.network, ...values })
    .onConflictDoUpdate({ target: [networkConfigs.orgId, networkConfigs.network], set: values })
    .returning();
  forgetConfig(ctx.db, orgId, adapter.network);
  return { row, created: !existing };
}

export async function listNetworkConfigs(db: DbOrTx, orgId: string) {
  return db.select().from(networkConfigs).where(eq(networkConfigs.orgId, orgId)).orderBy(networkConfigs.network);
}

/** One config of this organization, by id or by network name. */
export async function findNetworkConfig(db: DbOrTx, orgId: string, idOrNetwork: string) {
  const [row] = await db
    .select()
    .from(networkConfigs)
    .where(and(eq(networkConfigs.orgId, orgId), or(eq(networkConfigs.id, idOrNetwork), eq(networkConfigs.network, idOrNetwork))));
  return row;
}

/**
 * Every auth-url request reads its network's config, so configs are remembered briefly. A change takes effect
 * at once in the process that made it, and within this long in any other process on the same PostgreSQL.
 * Only the start of a flow and publishing (which needs the app's credentials for every target) read the remembered
 * copy: the callback, refresh and revoke read the row itself.
 */
const NETWORK_CONFIG_TTL_MS = 5_000;
const recentConfigs = perDatabase(() => new LRUCache<string, NetworkConfigRow>({ max: 10_000, ttl: NETWORK_CONFIG_TTL_MS }));

/** The organization's config for a network, for starting a flow (see NETWORK_CONFIG_TTL_MS). */
export async function networkConfigForFlow(db: Db, orgId: string, network: string): Promise<NetworkConfigRow | undefined> {
  const cache = recentConfigs(db);
  const key = `${orgId}:${network}`;
  const known = cache.get(key);
  if (known) return known;
  const [row] = await db
    .select()
    .from(networkConfigs)
    .where(and(eq(networkConfigs.orgId, orgId), eq(networkConfigs.network, network)));
  if (row) cache.set(key, row);
  return row;
}

function forgetConfig(db: Db, orgId: string, network: string) {
  recentConfigs(db).delete(`${orgId}:${network}`);
}

/** Removes the app; its accounts are marked disconnected and lose their tokens, its pending flows end. */
export async function deleteNetworkConfig(ctx: AppContext, orgId: string, row: NetworkConfigRow) {
  await ctx.db.transaction(async (tx) => {
    const accounts = await tx
      .update(socialAccounts)
      .set(disconnectedColumns())
      .where(and(eq(socialAccounts.orgId, orgId), eq(socialAccounts.network, row.network), ne(socialAccounts.status, 'disconnected')))
      .returning();
    for (const account of accounts) {
      await emitAccountEvent(tx, account, 'account.disconnected', { reason: `The ${row.network} app configuration was removed` });
    }
    await tx.delete(connectFlows).where(eq(connectFlows.networkConfigId, row.id));
    await tx.delete(networkConfigs).where(and(eq(networkConfigs.id, row.id), eq(networkConfigs.orgId, orgId)));
  });
  forgetConfig(ctx.db, orgId, row.network);
}

/**
 * The organization's app for publishing and direct calls (read through the 5-second cache); app-password networks
 * (Bluesky) have none, and get empty credentials.
 */
export async function appCredentialsFor(ctx: AppContext, orgId: string, adapter: NetworkAdapter): Promise<AppCredentials> {
  const config = await networkConfigForFlow(ctx.db, orgId, adapter.network);
  return config ? appCredentials(ctx, config, adapter) : { clientId: '', clientSecret: undefined, scopes: [], options: {} };
}

/** The credentials an adapter uses for this organization. */
export function appCredentials(ctx: AppContext, row: NetworkConfigRow, adapter: NetworkAdapter): AppCredentials {
  return {
    clientId: row.clientKey,
    clientSecret: row.clientSecretEnc ? ctx.keyring.decrypt(row.clientSecretEnc, secretContext(row.id)) : undefined,
    scopes: row.scopes ?? defaultScopes(adapter, row.options),
    options: row.options,
  };
}

function defaultScopes(adapter: NetworkAdapter, options: Record<string, unknown>): string[] {
  return [...(adapter.scopesFor?.(options) ?? adapter.defaultScopes)];
}
