// Posts: the organization's posts, newest first, with every target's account, network, status, error and link to
// the published post; one post's page with "Retry failed targets" and "Cancel". The same modules as the API
// (publishing/posts.ts: listPosts, retryFailedTargets, cancelPost; views.ts for what a target shows).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { POST_STATUSES } from '../../db/schema.ts';
import { wakePublishers } from '../../publishing/engine.ts';
import { cancelPost, findPost, listPosts, PostStateConflict, retryFailedTargets } from '../../publishing/posts.ts';
import { postView, postViews, type PostView, type TargetView } from '../../publishing/views.ts';
import type { NetworkId } from '../../providers/types.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
import { field } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const PAGE_SIZE = 20;

export const POST_STATUS_LABELS: Record<PostView['status'], string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  publishing: 'Publishing',
  published: 'Published',
  partial: 'Partly published',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const TARGET_STATUS_LABELS: Record<TargetView['status'], string> = {
  pending: 'Waiting',
  publishing: 'Publishing',
  published: 'Published',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** Error categories (providers/publishing-contract.ts) in plain words. */
const ERROR_LABELS: Record<string, string> = {
  auth_expired: 'The account needs reconnecting',
  permission_missing: 'Permission missing',
  rate_limited: 'Rate limited by the network',
  quota_exhausted: 'Quota used up',
  user_content: 'The network refused the content',
  duplicate: 'Duplicate post',
  media_unreachable: 'The network could not fetch the media',
  app_not_approved: 'The app is not approved for this',
  platform_rejected: 'Rejected by the network',
  platform_error: 'The network failed',
  not_supported: 'Not supported by the network',
  unknown_outcome: 'Outcome unknown (not sent again, so it is never posted twice)',
};

const NOTICES: Record<string, string> = {
  published: 'The post was created and is being published.',
  scheduled: 'The post was scheduled.',
  draft: 'The post was saved as a draft.',
  retried: 'The failed targets are being published again.',
  cancelled: 'The post was cancelled: nothing will be published.',
};

const Filters = z.object({
  status: field.pipe(z.union([z.literal(''), z.enum(POST_STATUSES)])),
  page: field.pipe(z.union([z.literal(''), z.string().regex(/^[1-9]\d{0,5}$/)])),
});

export const accountLabel = (a: { nickname: string | null; username: string | null; id: string }) => a.nickname ?? a.username ?? a.id;

/** Only links a browser follows to a page: an http(s) URL, never `javascript:` or the like. */
const safeLink = (url: string | null) => (url && /^https?:\/\//i.test(url) ? url : null);

export function postPages(app: FastifyInstance, ctx: AppContext) {
  const networkName = (id: string) => ctx.adapters.get(id as NetworkId)?.displayName ?? id;
  const frame = (session: SignedIn, title: string, extra: { notice?: string; error?: string } = {}) => ({
    title,
    section: 'posts' as const,
    organizationName: session.organizationName,
    csrfToken: session.csrfToken,
    ...extra,
  });

  const targetError = (t: TargetView) =>
    t.error || t.errorCategory
      ? `<span class="target-error">${escapeHtml(t.errorCategory ? (ERROR_LABELS[t.errorCategory] ?? t.errorCategory) : 'Error')}${t.error ? `: ${escapeHtml(t.error)}` : ''}</span>`
      : '';
  const targetLink = (t: TargetView) => {
    const url = safeLink(t.platformPostUrl);
    return url ? `<a href="${escapeHtml(url)}" rel="noopener noreferrer" aria-label="View on ${escapeHtml(networkName(t.network))} (${escapeHtml(accountLabel(t))})">View on ${escapeHtml(networkName(t.network))}</a>` : '';
  };
  const status = (s: string, label: string) => `<span class="status-${s}">${label}</span>`;
  const excerpt = (post: PostView) => {
    const text = post.containers[0]?.content.trim() ?? '';
    const files = post.containers.reduce((n, c) => n + c.media.length, 0);
    const shown = text ? escapeHtml(text.length > 140 ? `${text.slice(0, 139)}…` : text) : '<span class="muted">(no text)</span>';
    return `${shown}${files ? ` <span class="muted">· ${files} file${files === 1 ? '' : 's'}</span>` : ''}${post.containers.length > 1 ? ` <span class="muted">· thread of ${post.containers.length}</span>` : ''}`;
  };

  app.get<{ Querystring: Record<string, unknown> }>(`${DASHBOARD}/posts`, async (req, reply) => {
    const session = signedIn(req);
    const parsed = Filters.safeParse(req.query ?? {});
    const filters = parsed.success ? parsed.data : { status: '' as const, page: '' };
    const page = Number(filters.page || 1);
    const { rows, total } = await listPosts(ctx.db, session.orgId, { statuses: filters.status ? [filters.status] : undefined }, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE });
    const views = await postViews(ctx, ctx.db, rows);
    const tableRows = views
      .map(
        (p) => `<tr>
  <th scope="row"><a href="${DASHBOARD}/posts/${escapeHtml(p.id)}">${excerpt(p)}</a></th>
  <td>${status(p.status, POST_STATUS_LABELS[p.status])}${p.scheduledAt && p.status === 'scheduled' ? `<br><span class="muted">for ${formatTime(p.scheduledAt)}</span>` : ''}</td>
  <td>${
    p.socialAccounts.length
      ? `<ul class="targets">${p.socialAccounts
          .map(
            (t) =>
              `<li><strong>${escapeHtml(accountLabel(t))}</strong> <span class="muted">${escapeHtml(networkName(t.network))}</span> · ${status(t.status, TARGET_STATUS_LABELS[t.status])}${targetLink(t) ? ` · ${targetLink(t)}` : ''}${targetError(t) ? `<br>${targetError(t)}` : ''}</li>`,
          )
          .join('')}</ul>`
      : '<span class="muted">No accounts (draft)</span>'
  }</td>
  <td>${formatTime(p.createdAt)}</td>
</tr>`,
      )
      .join('\n');
    const query = (n: number) => {
      const params = new URLSearchParams();
      if (filters.status) params.set('status', filters.status);
      if (n > 1) params.set('page', String(n));
      const s = params.toString();
      return s ? `?${s}` : '';
    };
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const paging = [
      page > 1 ? `<a href="${DASHBOARD}/posts${query(page - 1)}" rel="prev">Newer posts</a>` : '',
      total > PAGE_SIZE ? `<span class="muted">Page ${page} of ${pages}</span>` : '',
      page < pages ? `<a href="${DASHBOARD}/posts${query(page + 1)}" rel="next">Older posts</a>` : '',
    ].filter(Boolean);
    const statusOptions = POST_STATUSES.map((s) => `<option value="${s}"${filters.status === s ? ' selected' : ''}>${POST_STATUS_LABELS[s]}</option>`).join('');
    const body = `<p class="actions"><a class="button" href="${DASHBOARD}/posts/new">New post</a></p>
<form method="get" action="${DASHBOARD}/posts" class="card filters" role="search" aria-label="Filter posts">
<div><label for="status">Status</label><select id="status" name="status"><option value="">Any status</option>${statusOptions}</select></div>
<div><button type="submit">Filter</button></div>
</form>
${
  views.length
    ? scrollingTable(
        'Posts',
        `<table><thead><tr><th scope="col">Post</th><th scope="col">Status</th><th scope="col">Accounts</th><th scope="col">Created</th></tr></thead>
<tbody>${tableRows}</tbody></table>`,
      )
    : `<p class="card">${filters.status || page > 1 ? 'No posts match.' : `No posts yet. <a href="${DASHBOARD}/posts/new">Write the first one</a>.`}</p>`
}
${paging.length ? `<nav aria-label="Pages" class="actions">${paging.join(' ')}</nav>` : ''}`;
    const error = parsed.success ? undefined : 'That filter is not valid: showing every post.';
    return sendDashboard(reply, error ? 400 : 200, dashboardPage(frame(session, 'Posts', { error }), body));
  });

  const notFound = (reply: FastifyReply, session: SignedIn) =>
    sendDashboard(
      reply,
      404,
      dashboardPage(frame(session, 'Post not found', { error: 'There is no such post in this organization.' }), `<p><a href="${DASHBOARD}/posts">Back to the posts</a></p>`),
    );

  async function renderPost(reply: FastifyReply, session: SignedIn, id: string, code: number, extra: { notice?: string; error?: string } = {}) {
    const row = await findPost(ctx.db, session.orgId, id);
    if (!row) return notFound(reply, session);
    const p = await postView(ctx, ctx.db, row);
    const containers = p.containers
      .map(
        (c, i) => `<section class="card" aria-label="${p.containers.length > 1 ? `Part ${i + 1}` : 'Content'}">
${p.containers.length > 1 ? `<h2>Part ${i + 1}</h2>` : ''}
<p class="post-text">${c.content ? escapeHtml(c.content) : '<span class="muted">(no text)</span>'}</p>
${
  c.media.length
    ? `<ul class="media-list">${c.media
        .map((m) => {
          const url = safeLink(m.url);
          const image = url && m.content_type?.startsWith('image/');
          return `<li>${image ? `<img src="${escapeHtml(url)}" alt="${escapeHtml(m.alt ?? '')}" class="thumb">` : ''}<span class="muted">${escapeHtml(m.filename ?? m.id)}${m.content_type ? ` · ${escapeHtml(m.content_type)}` : ''}</span></li>`;
        })
        .join('')}</ul>`
    : ''
}
</section>`,
      )
      .join('\n');
    const targets = p.socialAccounts
      .map(
        (t) => `<tr>
  <th scope="row">${escapeHtml(accountLabel(t))}${t.username ? `<br><span class="muted">@${escapeHtml(t.username)}</span>` : ''}</th>
  <td>${escapeHtml(networkName(t.network))}</td>
  <td>${status(t.status, TARGET_STATUS_LABELS[t.status])}</td>
  <td>${targetError(t) || '<span class="muted">None</span>'}</td>
  <td>${t.publishedAt ? formatTime(t.publishedAt) : '—'}</td>
  <td>${targetLink(t) || '—'}</td>
  <td>${t.attempts}</td>
</tr>`,
      )
      .join('\n');
    const actions = [
      p.socialAccounts.some((t) => t.status === 'failed')
        ? `<form method="post" action="${DASHBOARD}/posts/${escapeHtml(p.id)}/retry" class="inline">${csrfField(session.csrfToken)}<button type="submit">Retry failed targets</button></form>`
        : '',
      p.status === 'scheduled' || p.status === 'draft'
        ? `<form method="post" action="${DASHBOARD}/posts/${escapeHtml(p.id)}/cancel" class="inline">${csrfField(session.csrfToken)}<button type="submit" class="danger">Cancel ${p.status === 'draft' ? 'draft' : 'post'}</button></form>`
        : '',
    ].filter(Boolean);
    const body = `<p><a href="${DASHBOARD}/posts">All posts</a></p>
<section class="card" aria-label="Summary">
<p>Status: ${status(p.status, POST_STATUS_LABELS[p.status])}</p>
<p class="muted">Created ${formatTime(p.createdAt)}${p.scheduledAt ? ` · scheduled for ${formatTime(p.scheduledAt)}` : ''}${p.publishedAt ? ` · published ${formatTime(p.publishedAt)}` : ''} · <span class="mono">${escapeHtml(p.id)}</span></p>
${actions.length ? `<div class="actions">${actions.join('')}</div>` : ''}
</section>
${containers}
<h2 id="targets">Accounts</h2>
${
  p.socialAccounts.length
    ? scrollingTable(
        'Targets',
        `<table><thead><tr><th scope="col">Account</th><th scope="col">Network</th><th scope="col">Status</th><th scope="col">Error</th><th scope="col">Published</th><th scope="col">Link</th><th scope="col">Attempts</th></tr></thead><tbody>${targets}</tbody></table>`,
      )
    : '<p class="card">No accounts: this draft publishes nowhere until it is given some through the API.</p>'
}`;
    return sendDashboard(reply, code, dashboardPage(frame(session, 'Post', extra), body));
  }

  app.get<{ Params: { id: string }; Querystring: { notice?: string } }>(`${DASHBOARD}/posts/:id`, async (req, reply) =>
    renderPost(reply, signedIn(req), req.params.id, 200, { notice: NOTICES[String(req.query.notice ?? '')] }),
  );

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/posts/:id/retry`, async (req, reply) => {
    const session = signedIn(req);
    try {
      const result = await retryFailedTargets(ctx, session.orgId, req.params.id);
      if (!result) return notFound(reply, session);
    } catch (err) {
      if (err instanceof PostStateConflict) return renderPost(reply, session, req.params.id, 409, { error: 'Nothing to retry: no target of this post has failed.' });
      throw err;
    }
    wakePublishers();
    return reply.redirect(`${DASHBOARD}/posts/${encodeURIComponent(req.params.id)}?notice=retried`, 303);
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/posts/:id/cancel`, async (req, reply) => {
    const session = signedIn(req);
    try {
      const cancelled = await cancelPost(ctx, session.orgId, req.params.id);
      if (!cancelled) return notFound(reply, session);
    } catch (err) {
      if (err instanceof PostStateConflict) {
        return renderPost(reply, session, req.params.id, 409, { error: 'This post can no longer be cancelled: publishing has begun, or it is already published.' });
      }
      throw err;
    }
    return reply.redirect(`${DASHBOARD}/posts/${encodeURIComponent(req.params.id)}?notice=cancelled`, 303);
  });
}
