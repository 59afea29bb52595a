// The media files a post view names (its URL, file name and type), whatever their state now.
import { inArray } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import type { DbOrTx } from '../db/database.ts';
import { media } from '../db/schema.ts';
import { mediaUrlFor } from './media-refs.ts';

export async function activeOrAnyMedia(ctx: AppContext, db: DbOrTx, ids: string[]) {
  const unique = [...new Set(ids)];
  const rows = unique.length ? await db.select().from(media).where(inArray(media.id, unique)) : [];
  return new Map(
    rows.map((r) => [r.id, { url: r.status === 'active' ? mediaUrlFor(ctx, r) : null, filename: r.filename, contentType: r.contentType }]),
  );
}
