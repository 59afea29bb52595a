// `DELETE /v1/posts/{id}/remote`: removes a published post from every network that allows it, part by part (the
// replies or comments first, then the post). Networks without a delete report `not_supported` on their target.
import { eq } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { postTargets } from '../db/schema.ts';
import { decryptTokens, findAccountById, publishAccountOf } from '../accounts/accounts.ts';
import type { NetworkId } from '../providers/types.ts';
import { ensureFreshToken } from '../tokens/refresh.ts';
import { appCredentialsFor } from '../networks/network-configs.ts';
import { classify } from './run-target.ts';
import { checkOptions } from './preflight.ts';
import { storedTargetOptions, targetsOf, type PostRow } from './posts.ts';

export async function deleteAtNetworks(ctx: AppContext, post: PostRow): Promise<void> {
  const targets = (await targetsOf(ctx.db, [post.id])).filter((t) => t.status === 'published' && !t.remoteDeletedAt);
  await Promise.all(
    targets.map(async (target) => {
      const record = (changes: Partial<typeof postTargets.$inferInsert>) =>
        ctx.db.update(postTargets).set({ ...changes, updatedAt: new Date() }).where(eq(postTargets.id, target.id));
      const adapter = ctx.adapters.get(target.network as NetworkId);
      const deletePart = adapter?.publishing?.deletePart;
      if (!adapter || !deletePart) {
        return record({ error: `${adapter?.displayName ?? target.network} does not let an app delete posts`, errorCategory: 'not_supported' });
      }
      try {
        const found = await findAccountById(ctx.db, target.accountId);
        if (!found) throw new Error('The account no longer exists');
        const account = await ensureFreshToken(ctx, found);
        const tokens = decryptTokens(ctx.keyring, account);
        if (!tokens) throw new Error('The account has no token');
        const base = {
          app: await appCredentialsFor(ctx, post.orgId, adapter),
          accessToken: tokens.accessToken,
          account: publishAccountOf(account),
          options: checkOptions(adapter, storedTargetOptions(post, target)).options,
        };
        const published = target.parts.filter((p) => p.phase === 'published' && p.id).reverse();
        for (const part of published) await deletePart.call(adapter.publishing, { ...base, part: { id: part.id!, url: part.url ?? null, data: part.data } });
        await record({ remoteDeletedAt: new Date(), error: null, errorCategory: null });
      } catch (err) {
        await record({ error: (err as Error).message, errorCategory: classify(err).category });
      }
    }),
  );
}
