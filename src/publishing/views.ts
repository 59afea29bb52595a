// Posts as the API shows them (PRODUCT.md, "Publishing": `GET /v1/posts/{id}`), also the payload of post webhooks.
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { activeOrAnyMedia } from './media-view.ts';
import { accountsOf, targetsOf, type PostRow, type TargetRow } from './posts.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export interface TargetView {
  id: string;
  network: string;
  username: string | null;
  nickname: string | null;
  tenant_id: string | null;
  status: TargetRow['status'];
  error: string | null;
  errorCategory: string | null;
  platformPostId: string | null;
  platformPostUrl: string | null;
  platformPostIds: string[];
  publishedAt: string | null;
  attempts: number;
  remoteDeletedAt: string | null;
}

export interface PostView {
  id: string;
  orgId: string;
  status: PostRow['status'];
  isDraft: boolean;
  scheduledAt: string | null;
  publishedAt: string | null;
  createdAt: string;
  updatedAt: string;
  tenant_id: string | null;
  workspace_id: string | null;
  containers: Array<{ id: string; content: string; media: Array<{ id: string; url: string | null; filename: string | null; content_type: string | null; alt: string | null }> }>;
  socialAccounts: TargetView[];
}

export async function postViews(ctx: AppContext, db: DbOrTx, rows: PostRow[]): Promise<PostView[]> {
  const targets = await targetsOf(db, rows.map((r) => r.id));
  const accounts = await accountsOf(db, targets.map((t) => t.accountId));
  const mediaIds = rows.flatMap((r) => r.containers.flatMap((c) => c.media.map((m) => m.id)));
  const files = await activeOrAnyMedia(ctx, db, mediaIds);
  return rows.map((post) => ({
    id: post.id,
    orgId: post.orgId,
    status: post.status,
    isDraft: post.isDraft,
    scheduledAt: iso(post.scheduledAt),
    publishedAt: iso(post.publishedAt),
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
    tenant_id: post.tenantId,
    workspace_id: post.workspaceId,
    containers: post.containers.map((c) => ({
      id: c.id,
      content: c.content,
      media: c.media.map((m) => {
        const file = files.get(m.id);
        return { id: m.id, url: file?.url ?? null, filename: file?.filename ?? null, content_type: file?.contentType ?? null, alt: m.alt };
      }),
    })),
    socialAccounts: targets
      .filter((t) => t.postId === post.id)
      .map((t) => {
        const account = accounts.get(t.accountId);
        const published = t.parts.filter((p) => p.phase === 'published' && p.id);
        return {
          id: t.accountId,
          network: t.network,
          username: account?.username ?? null,
          nickname: account?.nickname ?? null,
          tenant_id: account?.tenantId ?? null,
          status: t.status,
          error: t.error,
          errorCategory: t.errorCategory,
          platformPostId: t.platformPostId,
          platformPostUrl: t.platformPostUrl,
          platformPostIds: published.map((p) => p.id!),
          publishedAt: iso(t.publishedAt),
          attempts: t.attempts,
          remoteDeletedAt: iso(t.remoteDeletedAt),
        };
      }),
  }));
}

export async function postView(ctx: AppContext, db: DbOrTx, row: PostRow): Promise<PostView> {
  return (await postViews(ctx, db, [row]))[0];
}
