// Disconnecting an account: revoke at the network where it can, then drop every credential and tell webhooks.
// Shared by `DELETE /v1/social-accounts/{id}` and the dashboard's "Disconnect" button.
import { and, eq } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../context.ts';
import { socialAccounts } from '../db/schema.ts';
import { appCredentials, findNetworkConfig } from '../networks/network-configs.ts';
import { NetworkError, type NetworkId } from '../providers/types.ts';
import { decryptTokens, disconnectedColumns, emitAccountEvent, type AccountRow } from './accounts.ts';

export async function disconnectAccount(ctx: AppContext, account: AccountRow, opts: { reason: string; log: FastifyBaseLogger }): Promise<AccountRow> {
  const adapter = ctx.adapters.get(account.network as NetworkId);
  const tokens = decryptTokens(ctx.keyring, account);
  const config = await findNetworkConfig(ctx.db, account.orgId, account.network);
  if (adapter?.revoke && tokens && config) {
    try {
      await adapter.revoke({ app: appCredentials(ctx, config, adapter), tokens, metadata: account.metadata });
    } catch (err) {
      // The user asked us to let go of the account: we do, even if the network could not be told.
      opts.log.warn({ err: err instanceof NetworkError ? err.description : String(err), accountId: account.id }, 'revocation at the network failed');
    }
  }
  return ctx.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(socialAccounts)
      .set(disconnectedColumns())
      .where(and(eq(socialAccounts.id, account.id), eq(socialAccounts.orgId, account.orgId)))
      .returning();
    if (account.status !== 'disconnected') await emitAccountEvent(tx, updated, 'account.disconnected', { reason: opts.reason });
    return updated;
  });
}
