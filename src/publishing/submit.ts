// A new post as a caller asks for it (the `POST /v1/posts` body): media resolved, accounts resolved, every target
// preflighted, then written and the publishers woken. The API and the dashboard's compose form both come here, so
// a post made either way is checked the same way; a refusal is a `PostRefused` naming what is wrong.
import type { AppContext } from '../context.ts';
import { NETWORKS } from '../providers/types.ts';
import { resolveContainers } from './containers.ts';
import { wakePublishers } from './engine.ts';
import { createPost, PostRefused, preflight, resolveAccounts, targetOptions, type PostOptions, type PostRow } from './posts.ts';
import type { CreatePostBody } from './schemas.ts';

export async function submitPost(ctx: AppContext, orgId: string, body: CreatePostBody): Promise<PostRow> {
  if (body.content === undefined && !body.containers) throw new PostRefused({ content: { _errors: ['Required (or containers)'] } });
  const options: PostOptions = {};
  for (const network of NETWORKS) if (body[network]) options[network] = body[network];
  const containers = await resolveContainers(ctx, orgId, body.containers ?? [{ content: body.content }]);
  const accounts = await resolveAccounts(ctx, orgId, body.accounts ?? [], body.tenant_id);
  await preflight(ctx, accounts, containers, (account) => targetOptions(account, options));
  const post = await createPost(ctx, {
    orgId,
    tenantId: body.tenant_id ?? null,
    containers,
    accounts,
    scheduledAt: body.scheduledAt ? new Date(body.scheduledAt) : null,
    isDraft: body.isDraft ?? false,
    options,
  });
  wakePublishers();
  return post;
}
