// Every encrypted column of the schema, in one place, with the context (additional authenticated data) each of
// its ciphertexts is bound to. The code that writes and reads a column builds its context with `contexts` below,
// and `switchboard keys reencrypt` (reencrypt.ts) walks ENCRYPTED_COLUMNS with the very same functions: a
// context spelled twice could drift, and a ciphertext whose context the re-encryption cannot rebuild would be
// stuck on an old key for ever.
//
// A new encrypted column: a `…Enc` column in db/schema.ts, its context function in `contexts` (used by its
// writers and readers), and one entry in ENCRYPTED_COLUMNS. test/reencrypt.test.ts fails while a `…Enc`
// column of the schema has no entry here.
import { getTableName } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { connectFlows, idempotencyKeys, internalSecrets, networkConfigs, socialAccounts, webhookEndpoints } from '../db/schema.ts';

export type AccountTokenColumn = 'access_token' | 'refresh_token' | 'credential';

export const contexts = {
  networkConfigClientSecret: (id: string) => `network_configs:${id}:client_secret`,
  connectFlowCodeVerifier: (id: string) => `connect_flows:${id}:code_verifier`,
  connectFlowPendingProfiles: (id: string) => `connect_flows:${id}:pending_profiles`,
  accountToken: (id: string, column: AccountTokenColumn) => `social_accounts:${id}:${column}`,
  webhookEndpointSecret: (id: string) => `webhook_endpoints:${id}:secret`,
  internalSecret: (name: string) => `internal_secrets:${name}:value`,
  idempotencyResponse: (orgId: string, key: string) => `idempotency_keys:${orgId}:${key}:response`,
};

export interface EncryptedColumn {
  table: PgTable;
  column: PgColumn;
  /** The row's primary key, in order: how a row is named in messages, paged through and written back. */
  rowKey: PgColumn[];
  /** The context of this column's ciphertext in the row with these primary-key values. */
  context(rowKey: string[]): string;
}

export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { table: networkConfigs, column: networkConfigs.clientSecretEnc, rowKey: [networkConfigs.id], context: ([id]) => contexts.networkConfigClientSecret(id) },
  { table: socialAccounts, column: socialAccounts.accessTokenEnc, rowKey: [socialAccounts.id], context: ([id]) => contexts.accountToken(id, 'access_token') },
  { table: socialAccounts, column: socialAccounts.refreshTokenEnc, rowKey: [socialAccounts.id], context: ([id]) => contexts.accountToken(id, 'refresh_token') },
  { table: socialAccounts, column: socialAccounts.credentialEnc, rowKey: [socialAccounts.id], context: ([id]) => contexts.accountToken(id, 'credential') },
  { table: connectFlows, column: connectFlows.codeVerifierEnc, rowKey: [connectFlows.id], context: ([id]) => contexts.connectFlowCodeVerifier(id) },
  { table: connectFlows, column: connectFlows.pendingProfilesEnc, rowKey: [connectFlows.id], context: ([id]) => contexts.connectFlowPendingProfiles(id) },
  { table: webhookEndpoints, column: webhookEndpoints.secretEnc, rowKey: [webhookEndpoints.id], context: ([id]) => contexts.webhookEndpointSecret(id) },
  { table: internalSecrets, column: internalSecrets.valueEnc, rowKey: [internalSecrets.name], context: ([name]) => contexts.internalSecret(name) },
  {
    table: idempotencyKeys,
    column: idempotencyKeys.responseEnc,
    rowKey: [idempotencyKeys.orgId, idempotencyKeys.key],
    context: ([orgId, key]) => contexts.idempotencyResponse(orgId, key),
  },
];

/** `table.column`, as messages and progress lines name a column. */
export const columnLabel = (c: EncryptedColumn) => `${getTableName(c.table)}.${c.column.name}`;
