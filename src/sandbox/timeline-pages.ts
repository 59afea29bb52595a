// The sandbox network's timeline: an identity's posts, newest first, each reply in a thread under the post it
// answers, with images and videos, and a page per post. No JavaScript; every value from a post is escaped.
import { escapeHtml, layout, PAGE_CSP } from './pages.ts';
import type { SandboxIdentity } from './people.ts';
import type { MediaFacts, SandboxPost } from './posts.ts';
import { SANDBOX_PATH } from './provider.ts';

/** The pages' own policy, plus videos from the sandbox itself. */
export const TIMELINE_CSP = `${PAGE_CSP}; media-src 'self'`;

/** Threads indent this deep; the replies of a deeper post follow it at the same depth. */
const MAX_NESTING = 6;

const STYLE = `  .profile { display: flex; align-items: center; gap: .75rem; margin-bottom: 1rem; }
  .profile h2 { margin: 0; font-size: 1.25rem; }
  .handle, .meta, .meta a { color: #65676b; font-size: .875rem; }
  ol.timeline, ol.replies { list-style: none; margin: 0; padding: 0; }
  ol.replies { margin-left: 1.25rem; padding-left: .75rem; border-left: 2px solid #dde1e7; }
  .post { padding: .75rem 0; border-top: 1px solid #e4e6eb; }
  .post header { display: flex; align-items: center; gap: .5rem; }
  .post .text { margin: .4rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
  .post .media { display: grid; grid-template-columns: repeat(auto-fill, minmax(8rem, 1fr)); gap: .4rem; }
  .post .media img, .post .media video { width: 100%; border-radius: 8px; background: #eef1f5; }
  .avatar { border-radius: 50%; }
  .empty { color: #65676b; }
`;

export interface TimelineInput {
  identity: SandboxIdentity;
  /** The identity's posts that have not been deleted, newest first. */
  posts: SandboxPost[];
  /** Posts that some of `posts` reply to and that are not among them (another's, or deleted). */
  repliedTo: Map<string, SandboxPost>;
  media: Map<string, MediaFacts>;
}

export function timelinePage(input: TimelineInput): string {
  const { identity, posts } = input;
  const threads = new Threads(input);
  const list = posts.length
    ? `<ol class="timeline">${threads.items(threads.roots(), 0)}</ol>`
    : '<p class="empty">No posts yet.</p>';
  return page(identity, `${profile(identity)}\n${list}`);
}

/** One post with the replies under it (the identity's own), and what it answers if it is a reply. */
export function postPage(input: TimelineInput & { post: SandboxPost }): string {
  const threads = new Threads(input, input.post.id);
  return page(
    input.identity,
    `${profile(input.identity)}\n<p class="meta"><a href="${timelinePath(input.identity.username)}">All posts</a></p>\n<ol class="timeline">${threads.items([input.post], 0)}</ol>`,
  );
}

class Threads {
  private readonly byId: Map<string, SandboxPost>;
  private readonly children = new Map<string, SandboxPost[]>();

  constructor(
    private readonly input: TimelineInput,
    /** The post a post page is about: it says what it replies to even when that is on the timeline too. */
    private readonly focus?: string,
  ) {
    this.byId = new Map(input.posts.map((p) => [p.id, p]));
    // Oldest first under a post: a thread reads in the order it was written.
    for (const post of [...input.posts].reverse()) {
      if (!post.replyToId || !this.byId.has(post.replyToId)) continue;
      const siblings = this.children.get(post.replyToId) ?? [];
      siblings.push(post);
      this.children.set(post.replyToId, siblings);
    }
  }

  /** Posts that start a thread on this timeline: not replies, or replies to a post not on it. */
  roots(): SandboxPost[] {
    return this.input.posts.filter((p) => !p.replyToId || !this.byId.has(p.replyToId));
  }

  items(posts: SandboxPost[], depth: number): string {
    return posts
      .map((post) => {
        const replies = this.children.get(post.id) ?? [];
        if (replies.length === 0) return `<li>${this.article(post)}</li>`;
        if (depth >= MAX_NESTING) return `<li>${this.article(post)}</li>${this.items(replies, depth)}`;
        return `<li>${this.article(post)}<ol class="replies" data-replies-to="${escapeHtml(post.id)}">${this.items(replies, depth + 1)}</ol></li>`;
      })
      .join('');
  }

  private article(post: SandboxPost): string {
    const { identity } = this.input;
    return `<article class="post" id="post-${escapeHtml(post.id)}">
<header><img class="avatar" src="${avatarPath(identity.id)}" alt="" width="32" height="32"><strong>${escapeHtml(identity.name)}</strong> <span class="handle">@${escapeHtml(identity.username)}</span></header>
${this.replyingTo(post)}${post.text ? `<p class="text">${escapeHtml(post.text)}</p>\n` : ''}${this.media(post)}<p class="meta"><a class="permalink" href="${postPath(identity.username, post.id)}"><time datetime="${post.createdAt.toISOString()}">${when(post.createdAt)}</time></a></p>
</article>`;
  }

  private replyingTo(post: SandboxPost): string {
    if (!post.replyToId || (this.byId.has(post.replyToId) && post.id !== this.focus)) return '';
    const parent = this.byId.get(post.replyToId) ?? this.input.repliedTo.get(post.replyToId);
    if (!parent || parent.deletedAt) return '<p class="meta">Replying to a post that was deleted</p>\n';
    return `<p class="meta">Replying to <a href="${postPath(parent.authorId, parent.id)}">@${escapeHtml(parent.authorId)}</a></p>\n`;
  }

  private media(post: SandboxPost): string {
    if (post.mediaIds.length === 0) return '';
    const items = post.mediaIds.map((id, i) => {
      const src = `${SANDBOX_PATH}/media/${encodeURIComponent(id)}`;
      if (this.input.media.get(id)?.contentType.startsWith('video/')) return `<video controls preload="metadata" src="${escapeHtml(src)}"></video>`;
      return `<img src="${escapeHtml(src)}" alt="Image ${i + 1} of ${post.mediaIds.length}" loading="lazy">`;
    });
    return `<div class="media">${items.join('')}</div>\n`;
  }
}

function page(identity: SandboxIdentity, body: string): string {
  return layout(`${identity.name} (@${identity.username}) — Sandbox`, body, { wide: true, style: STYLE });
}

function profile(identity: SandboxIdentity): string {
  return `<div class="profile"><img class="avatar" src="${avatarPath(identity.id)}" alt="" width="56" height="56"><div><h2>${escapeHtml(identity.name)}</h2><span class="handle">@${escapeHtml(identity.username)}</span></div></div>`;
}

export function timelinePath(username: string): string {
  return `${SANDBOX_PATH}/@${encodeURIComponent(username)}`;
}

export function postPath(username: string, id: string): string {
  return `${timelinePath(username)}/posts/${encodeURIComponent(id)}`;
}

function avatarPath(id: string): string {
  return `${SANDBOX_PATH}/avatar/${encodeURIComponent(id)}.svg`;
}

/** `2025-01-31 14:05 UTC`: the same for every reader, with no script to localize it. */
function when(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
