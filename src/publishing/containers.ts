// A request's containers resolved to stored files: `{id}` media must be this organization's, active; `{url}` media
// is imported now (guarded like webhooks, same size limit) — so a post never refers to bytes we do not hold.
import type { AppContext } from '../context.ts';
import { importMediaFromUrl } from '../media/media.ts';
import { activeMedia } from './media-refs.ts';
import { PostRefused, type ContainerInput } from './posts.ts';
import type { ContainerBody } from './schemas.ts';

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
      try {
        mediaOut.push({ row: await importMediaFromUrl(ctx, orgId, ref.url, ref.filename), alt: ref.alt ?? null });
      } catch (err) {
        at(`${ref.url} could not be imported: ${(err as Error).message}`);
      }
    }
    result.push({ content: body.content ?? '', media: mediaOut });
  }
  if (Object.keys(problems).length) throw new PostRefused({ containers: problems });
  return result;
}
