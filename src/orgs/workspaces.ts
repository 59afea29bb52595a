// Workspaces group an organization's accounts (the Ocoya surface's unit). Every organization has a default
// workspace; accounts connected through `/v1` land in it unless another is named.
import { and, asc, count, eq, isNull } from 'drizzle-orm';
import type { DbOrTx } from '../db/database.ts';
import { apiKeys, workspaces } from '../db/schema.ts';
import { newId } from '../security/ids.ts';

export type WorkspaceRow = typeof workspaces.$inferSelect;

export async function listWorkspaces(db: DbOrTx, orgId: string): Promise<WorkspaceRow[]> {
  return db.select().from(workspaces).where(eq(workspaces.orgId, orgId)).orderBy(asc(workspaces.id));
}

export async function findWorkspace(db: DbOrTx, orgId: string, id: string): Promise<WorkspaceRow | undefined> {
  const [row] = await db.select().from(workspaces).where(and(eq(workspaces.orgId, orgId), eq(workspaces.id, id)));
  return row;
}

export async function createWorkspace(db: DbOrTx, orgId: string, name: string): Promise<WorkspaceRow> {
  const [row] = await db.insert(workspaces).values({ id: newId(), orgId, name }).returning();
  return row;
}

export async function renameWorkspace(db: DbOrTx, orgId: string, id: string, name: string): Promise<WorkspaceRow | undefined> {
  const [row] = await db.update(workspaces).set({ name }).where(and(eq(workspaces.orgId, orgId), eq(workspaces.id, id))).returning();
  return row;
}

/** The people who can use a workspace: the organization's active API keys (every key sees every workspace). */
export async function workspaceUserCount(db: DbOrTx, orgId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(apiKeys).where(and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)));
  return Number(row?.n ?? 0);
}

export function toWorkspaceView(row: WorkspaceRow) {
  return { id: row.id, name: row.name, is_default: row.isDefault, created_at: row.createdAt.toISOString() };
}
