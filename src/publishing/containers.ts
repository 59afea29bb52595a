// A request's containers resolved to stored files: `{id}` media must be this organization's, active; `{url}` media
// is imported now (guarded like webhooks, same size limit) — so a post never refers to bytes we do not hold.
import type { AppContext } from '../context.ts';
import { activeMedia, type MediaRow } from './media-refs.ts';
import { PostRefused, type ContainerInput } from './posts.ts';
import type { ContainerBody } from './schemas.ts';

export type UrlImporter = (ctx: AppContext, orgId: string, url: string, filename?: string) => Promise<MediaRow>;

let importer: UrlImporter | undefined;
/** The media concern registers how a URL becomes a stored file. */
export function useUrlImporter(fn: UrlImporter): void {
  importer = fn;
}

export async function resolveContainers(ctx: AppContext, orgId: string, bodies: ContainerBody[]): Promise<ContainerInput[]> {
  const ids = bodies.flatMap((c) => (c.media ?? []).flatMap((m) => ('id' in m ? [m.id] : [])));
  const { found, missing } = await activeMedia(ctx, orgId, ids);
  const problems: Record<string, unknown> = {};
  const result: ContainerInput[] = [];
  for (const [ci, body] of bodies.entries()) {
    const mediaOut: ContainerInput['media'] = [];
    for (const [mi, ref] of (body.media ?? []).entries()) {
      const at = (message: string) => {
        const container = ((problems[ci] as Record<string, unknown>) ??= {});
        const mediaTree = ((container.media as Record<string, unknown>) ??= {});
        mediaTree[mi] = { _errors: [message] };
      };
      if ('id' in ref) {
        const row = found.get(ref.id);
        if (!row || missing.includes(ref.id)) at(`Media ${ref.id} is not an uploaded and confirmed file of this organization`);
        else mediaOut.push({ row, alt: ref.alt ?? null });
        continue;
      }
      if (!importer) {
        at('Media from URLs cannot be imported by this installation');
        continue;
      }
      try {
        mediaOut.push({ row: await importer(ctx, orgId, ref.url, ref.filename), alt: ref.alt ?? null });
      } catch (err) {
        at(`${ref.url} could not be imported: ${(err as Error).message}`);
      }
    }
    result.push({ content: body.content ?? '', media: mediaOut });
  }
  if (Object.keys(problems).length) throw new PostRefused({ containers: problems });
  return result;
}
