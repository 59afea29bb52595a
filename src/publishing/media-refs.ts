// The media a post refers to: stored files of the post's organization, as adapters see them (`PublishMedia`).
import { and, eq, inArray } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { media } from '../db/schema.ts';
import type { PublishMedia } from '../providers/types.ts';
import { publicMediaUrl, toPublishMedia } from '../media/media.ts';
import { ID_PATTERN } from '../security/ids.ts';

export type MediaRow = typeof media.$inferSelect;

/** Active media of this organization by id; ids that are not (unknown, another's, pending, deleted) are returned apart. */
export async function activeMedia(ctx: AppContext, orgId: string, ids: string[]): Promise<{ found: Map<string, MediaRow>; missing: string[] }> {
  const wanted = [...new Set(ids)].filter((id) => ID_PATTERN.test(id));
  const rows = wanted.length
    ? await ctx.db.select().from(media).where(and(eq(media.orgId, orgId), inArray(media.id, wanted), eq(media.status, 'active')))
    : [];
  const found = new Map(rows.map((r) => [r.id, r]));
  return { found, missing: [...new Set(ids)].filter((id) => !found.has(id)) };
}

/** The file as an adapter sees it: media/media.ts builds it (public URL, streamed bytes). */
export function publishMediaFor(ctx: AppContext, row: MediaRow, alt: string | null): PublishMedia {
  return toPublishMedia(ctx, row, alt);
}

/** The file's unguessable public URL (media/urls.ts). */
export function mediaUrlFor(ctx: AppContext, row: MediaRow): string {
  return publicMediaUrl(ctx, row);
}
