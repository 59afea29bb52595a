// The sandbox network's account data, as a Graph-style API has it: an identity's audience and what its posts drew
// (`/api/metrics`), what it may choose when it posts (`/api/publishing-options`), and likes (`/api/posts/{id}/likes`).
// Documented for clients in src/providers/sandbox.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { invalidRequest, notFound, requireScope, type Authenticate } from './callers.ts';
import { visibilitiesOf, type SandboxIdentity } from './people.ts';
import { activityOf, visiblePost } from './posts.ts';
import { SANDBOX_PATH } from './provider.ts';
import { SANDBOX_TEXT_MAX_GRAPHEMES } from './post-routes.ts';

/** A stable number from a name, in [0, modulo): everything about a sandbox identity is derived from its name. */
function fromName(name: string, salt: string, modulo: number): number {
  let hash = 7;
  for (const char of salt + name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % modulo;
}

/** Followers and following, derived from the name (the sandbox has no follow button): pages follow no one. */
export function audienceOf(identity: SandboxIdentity, kind: 'user' | 'page'): { followers: number; following: number } {
  return { followers: 10 + fromName(identity.id, 'followers', 990), following: kind === 'page' ? 0 : fromName(identity.id, 'following', 300) };
}

const MAX_PERIOD_DAYS = 90;

function dateParam(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(date.getTime())) throw invalidRequest(`${name} must be an ISO 8601 date-time`);
  return date;
}

export function accountDataRoutes(scope: FastifyInstance, opts: { db: Db; authenticate: Authenticate }): void {
  const { db, authenticate } = opts;
  /** Who liked each post (kept in memory: likes are gone when the server restarts). */
  const likes = new Map<string, Set<string>>();
  const likesOf = (postId: string) => likes.get(postId)?.size ?? 0;

  scope.get(`${SANDBOX_PATH}/api/metrics`, async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
    const caller = await authenticate(req);
    const until = dateParam(req.query.until, 'until') ?? new Date();
    const since = dateParam(req.query.since, 'since') ?? new Date(until.getTime() - 30 * 24 * 3600_000);
    if (since >= until) throw invalidRequest('since must be before until');
    if (until.getTime() - since.getTime() > MAX_PERIOD_DAYS * 24 * 3600_000) throw invalidRequest(`The period may be at most ${MAX_PERIOD_DAYS} days`);
    const audience = audienceOf(caller.identity, caller.kind);
    const activity = await activityOf(db, caller.identity.id, since, until);
    return {
      id: caller.identity.id,
      followers_count: audience.followers,
      following_count: audience.following,
      posts_count: activity.postsCount,
      period: { since: since.toISOString(), until: until.toISOString() },
      // What the posts made in the period drew, whenever it came.
      insights: { posts: activity.postIds.length, likes: activity.postIds.reduce((sum, id) => sum + likesOf(id), 0), replies: activity.replies },
    };
  });

  scope.get(`${SANDBOX_PATH}/api/publishing-options`, async (req) => {
    const caller = await authenticate(req);
    return { id: caller.identity.id, visibilities: visibilitiesOf(caller.kind), max_text_graphemes: SANDBOX_TEXT_MAX_GRAPHEMES };
  });

  scope.post(`${SANDBOX_PATH}/api/posts/:id/likes`, async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const caller = await authenticate(req);
    requireScope(caller, 'posts.write', 'Liking');
    const post = await visiblePost(db, req.params.id);
    if (!post) throw notFound(`There is no post ${req.params.id}`);
    const likers = likes.get(post.id) ?? new Set<string>();
    likes.set(post.id, likers);
    const already = likers.has(caller.identity.id);
    likers.add(caller.identity.id);
    return reply.code(already ? 200 : 201).send({ post_id: post.id, like_count: likers.size });
  });
}


