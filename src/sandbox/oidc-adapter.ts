// oidc-provider's storage (its "Adapter" contract) in the `sandbox_oidc_models` table, so that grants, codes and
// tokens survive a restart and are shared by every process on one PostgreSQL.
import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Adapter, AdapterFactory, AdapterPayload, errors as OidcErrors } from 'oidc-provider';
import type { Db } from '../db/database.ts';
import { sandboxOidcModels } from '../db/schema.ts';

const table = sandboxOidcModels;

class DrizzleOidcAdapter implements Adapter {
  constructor(
    private readonly db: Db,
    /** oidc-provider's model name: `AccessToken`, `Grant`, `Session`, `Interaction`… */
    private readonly kind: string,
    /** oidc-provider's error classes (the module is loaded with the provider: provider.ts). */
    private readonly errors: typeof OidcErrors,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const row = {
      payload: payload as Record<string, unknown>,
      grantId: payload.grantId ?? null,
      userCode: payload.userCode ?? null,
      uid: payload.uid ?? null,
      expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      // A saved model starts unconsumed, as with oidc-provider's reference (memory) adapter.
      consumedAt: null,
    };
    await this.db
      .insert(table)
      .values({ kind: this.kind, id, ...row })
      .onConflictDoUpdate({ target: [table.kind, table.id], set: row });
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.findWhere(eq(table.id, id));
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere(eq(table.uid, uid));
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere(eq(table.userCode, userCode));
  }

  /**
   * Marks a code or refresh token used. Atomic, so that two processes redeeming the same one at the same moment
   * cannot both succeed: the loser gets `invalid_grant` instead of a second, parallel token chain.
   */
  async consume(id: string): Promise<void> {
    const consumed = await this.db
      .update(table)
      .set({ consumedAt: new Date() })
      .where(and(eq(table.kind, this.kind), eq(table.id, id), isNull(table.consumedAt)))
      .returning({ id: table.id });
    if (consumed.length === 0) throw new this.errors.InvalidGrant(`${this.kind} already used`);
  }

  async destroy(id: string): Promise<void> {
    await this.db.delete(table).where(and(eq(table.kind, this.kind), eq(table.id, id)));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.delete(table).where(and(eq(table.kind, this.kind), eq(table.grantId, grantId)));
  }

  private async findWhere(condition: ReturnType<typeof eq>): Promise<AdapterPayload | undefined> {
    const [row] = await this.db
      .select({ payload: table.payload, consumedAt: table.consumedAt })
      .from(table)
      // The database clock decides expiry, so that every process agrees.
      .where(and(eq(table.kind, this.kind), condition, or(isNull(table.expiresAt), gt(table.expiresAt, sql`now()`))))
      .limit(1);
    if (!row) return undefined;
    const payload = row.payload as AdapterPayload;
    return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
  }
}

/** The `adapter` option for oidc-provider: one adapter per model, all in the given database. */
export function drizzleOidcAdapter(db: Db, errors: typeof OidcErrors): AdapterFactory {
  return (kind: string) => new DrizzleOidcAdapter(db, kind, errors);
}
