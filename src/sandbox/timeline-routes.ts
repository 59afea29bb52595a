// The sandbox network's public pages for what was published: each identity's timeline (`/sandbox/@{username}`),
// a page per post, and the media they show. Anyone may look, as on a public profile.
import type { MediaStore } from '../media/store.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { errorPage } from './pages.ts';
import type { SandboxIdentity } from './people.ts';
import { findIdentity, mediaBytes, mediaFacts, postsBy, postsById, type SandboxPost } from './posts.ts';
import { SANDBOX_PATH } from './provider.ts';
import { postPage, TIMELINE_CSP, timelinePage, type TimelineInput } from './timeline-pages.ts';

type TimelineRequest = FastifyRequest<{ Params: { username: string; id?: string } }>;

export function timelineRoutes(scope: FastifyInstance, opts: { db: Db; publicUrl: string; mediaStore: MediaStore }): void {
  const { db, publicUrl } = opts;

  scope.setErrorHandler((err, req, reply) => {
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err }, 'sandbox timeline: database unavailable');
      reply.header('retry-after', RETRY_AFTER_SECONDS);
      return sendHtml(reply, 503, errorPage('Try again shortly', 'The sandbox cannot reach its storage right now.'));
    }
    req.log.error({ err }, 'sandbox timeline failed');
    return sendHtml(reply, 500, errorPage('Something went wrong', 'The sandbox could not show this page.'));
  });

  /** Everything a timeline of `identity` shows. */
  async function timelineOf(identity: SandboxIdentity): Promise<TimelineInput> {
    const posts = await postsBy(db, identity.id);
    const shown = new Set(posts.map((p) => p.id));
    const elsewhere = [...new Set(posts.map((p) => p.replyToId).filter((id): id is string => id !== null && !shown.has(id)))];
    const [repliedTo, media] = await Promise.all([postsById(db, elsewhere), mediaFacts(db, [...new Set(posts.flatMap((p) => p.mediaIds))])]);
    return { identity, posts, repliedTo, media };
  }

  scope.get(`${SANDBOX_PATH}/@:username`, async (req: TimelineRequest, reply) => {
    const identity = await findIdentity(db, publicUrl, req.params.username);
    if (!identity) return sendNoSuchAccount(reply, req.params.username);
    return sendHtml(reply, 200, timelinePage(await timelineOf(identity)));
  });

  scope.get(`${SANDBOX_PATH}/@:username/posts/:id`, async (req: TimelineRequest, reply) => {
    const identity = await findIdentity(db, publicUrl, req.params.username);
    if (!identity) return sendNoSuchAccount(reply, req.params.username);
    const timeline = await timelineOf(identity);
    let post: SandboxPost | undefined = timeline.posts.find((p) => p.id === req.params.id);
    // Older than the timeline shows: still reachable by its link.
    post ??= (await postsById(db, [req.params.id!])).get(req.params.id!);
    if (!post || post.deletedAt || post.authorId !== identity.id) {
      return sendHtml(reply, 404, errorPage('This post is not here', `@${identity.username} has no such post; it may have been deleted.`));
    }
    if (!timeline.posts.includes(post)) timeline.posts.push(post);
    return sendHtml(reply, 200, postPage({ ...timeline, post }));
  });

  scope.get(`${SANDBOX_PATH}/media/:id`, async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const media = await mediaBytes(db, opts.mediaStore, req.params.id);
    if (!media) return sendHtml(reply, 404, errorPage('No such file', 'This file is not in the sandbox.'));
    // Uploads were checked to be of their type; nosniff and a sandboxing policy keep it that way in a browser.
    return reply
      .type(media.contentType)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox")
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('content-length', String(media.size))
      .send(media.stream);
  });
}

function sendNoSuchAccount(reply: FastifyReply, username: string) {
  return sendHtml(reply, 404, errorPage('No such account', `There is no sandbox account @${username}.`));
}

function sendHtml(reply: FastifyReply, status: number, html: string) {
  return reply
    .code(status)
    .header('content-security-policy', TIMELINE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(html);
}
