// Compose: text, images or videos, the accounts to post to, and when (now, at a time, or kept as a draft). The
// post is made by the API's own `submitPost` (preflight of every account included); a refusal comes back on the
// same form with what was typed still in it and each account's problem next to it. Files arrive in the form
// (multipart, no JavaScript) and are streamed into the media store as they come (media.ts#receiveFile), then
// attached by id as the API's confirmed media are; after a refusal they stay attached to the form.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { listAccounts, type ListedAccount } from '../../accounts/accounts.ts';
import { ApiError } from '../../http/errors.ts';
import { activeMediaByIds, deleteMedia, receiveFile, type MediaRow } from '../../media/media.ts';
import { MediaTooLarge } from '../../media/store.ts';
import { PostRefused } from '../../publishing/posts.ts';
import { CreatePostBody } from '../../publishing/schemas.ts';
import { submitPost } from '../../publishing/post-requests.ts';
import type { NetworkId } from '../../providers/types.ts';
import { ID_PATTERN } from '../../security/ids.ts';
import { safeEqual } from '../../security/secrets.ts';
import { escapeHtml } from '../pages.ts';
import { field, listField } from './forms.ts';
import { csrfField, DASHBOARD, dashboardPage, sendDashboard } from './layout.ts';
import { acceptMultipart, CSRF_IN_MULTIPART, FormTokenRefused, FormTooLarge, readMultipartForm, type FormFields } from './multipart.ts';
import { accountLabel } from './posts.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const COMPOSE = `${DASHBOARD}/posts/new`;
/** Files one form may carry (preflight then applies each network's own count). */
const MAX_FILES = 10;
/** Accounts offered as checkboxes; an organization with more posts to the rest through the API. */
const MAX_ACCOUNTS_SHOWN = 500;
/** A browser that stops sending this long is gone (the route has no overall time limit: files can be large). */
const UPLOAD_IDLE_MS = 60_000;

const sizeInWords = (bytes: number) =>
  bytes >= 1024 ** 3 ? `${+(bytes / 1024 ** 3).toFixed(1)} GB` : bytes >= 1024 ** 2 ? `${+(bytes / 1024 ** 2).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
const noNul = (s: string) => !s.includes('\u0000');
/** `<input type="datetime-local">`: no zone; the dashboard's times are UTC. */
const LOCAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

const ComposeForm = z
  .object({
    text: field.pipe(z.string().max(100_000, 'is longer than 100,000 characters').refine(noNul, 'must not contain a NUL character')),
    accounts: listField.pipe(z.array(z.string().regex(ID_PATTERN, 'one of them is not an account of this list')).max(100, 'choose at most 100 accounts at once')),
    when: field.pipe(z.union([z.literal('').transform(() => 'now' as const), z.enum(['now', 'schedule', 'draft'])])),
    scheduled_at: field.pipe(z.string().trim().max(40)),
    alt: field.pipe(z.string().trim().max(2000, 'is longer than 2,000 characters').refine(noNul, 'must not contain a NUL character')),
    media: listField.pipe(z.array(z.string().regex(ID_PATTERN, 'one of them is not a file of this form')).max(35, 'attach at most 35 files')),
  })
  .superRefine((f, issues) => {
    if (f.when !== 'draft' && !f.accounts.length) issues.addIssue({ code: 'custom', path: ['accounts'], message: 'choose at least one account, or save the post as a draft' });
    if (f.when === 'schedule') {
      const at = LOCAL_DATETIME.test(f.scheduled_at) ? new Date(`${f.scheduled_at}Z`) : undefined;
      if (!at || Number.isNaN(at.getTime())) issues.addIssue({ code: 'custom', path: ['scheduled_at'], message: 'enter the date and time to publish at' });
      else if (at.getTime() <= Date.now()) issues.addIssue({ code: 'custom', path: ['scheduled_at'], message: 'must be in the future (times are UTC)' });
    }
  });
type ComposeForm = z.infer<typeof ComposeForm>;

const LABELS: Record<string, string> = { text: 'Text', accounts: 'Accounts', when: 'When', scheduled_at: 'Date and time', alt: 'Image description', media: 'Attached files' };

/** What the form shows: the values as typed (also after a refusal), the files attached, and the problems. */
interface FormState {
  text: string;
  accounts: string[];
  when: string;
  scheduledAt: string;
  alt: string;
  attached: MediaRow[];
  problems: string[];
  accountProblems: Map<string, string[]>;
}

const asString = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');
const asList = (v: unknown) => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Every `_errors` of a refusal (zod's format tree) with where it was found. */
function collect(node: unknown, path: string[], out: Array<{ path: string[]; message: string }>) {
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '_errors' && Array.isArray(value)) for (const message of value) out.push({ path, message: String(message) });
    else collect(value, [...path, key], out);
  }
}

export function composePages(app: FastifyInstance, ctx: AppContext) {
  const networkName = (id: string) => ctx.adapters.get(id as NetworkId)?.displayName ?? id;
  const activeAccounts = (orgId: string) => listAccounts(ctx.db, orgId, { status: 'active' }, { limit: MAX_ACCOUNTS_SHOWN, offset: 0 });

  function renderForm(session: SignedIn, accounts: ListedAccount[], state: FormState): string {
    const invalid = (name: string) => state.problems.some((p) => p.startsWith(`${LABELS[name]}:`));
    const accountBoxes = accounts
      .map((a) => {
        const own = state.accountProblems.get(a.id) ?? [];
        const describedBy = own.length ? ` aria-describedby="problem-${escapeHtml(a.id)}" aria-invalid="true"` : '';
        return `<div class="choice"><label><input type="checkbox" name="accounts" value="${escapeHtml(a.id)}"${state.accounts.includes(a.id) ? ' checked' : ''}${describedBy}> ${escapeHtml(accountLabel(a))} <span class="muted">${escapeHtml(networkName(a.network))}${a.username ? ` · @${escapeHtml(a.username)}` : ''}${a.tenantId ? ` · tenant ${escapeHtml(a.tenantId)}` : ''}</span></label>${
          own.length ? `<p class="field-problem" id="problem-${escapeHtml(a.id)}">${own.map(escapeHtml).join(' ')}</p>` : ''
        }</div>`;
      })
      .join('\n');
    const when = (value: string, label: string) =>
      `<label><input type="radio" name="when" value="${value}"${state.when === value ? ' checked' : ''}> ${label}</label>`;
    const attached = state.attached.length
      ? `<fieldset><legend>Attached files <span class="muted">(untick to leave one out)</span></legend>
${state.attached.map((m) => `<label><input type="checkbox" name="media" value="${escapeHtml(m.id)}" checked> ${escapeHtml(m.filename)} <span class="muted">${escapeHtml(m.contentType ?? '')}</span></label>`).join('\n')}
</fieldset>`
      : '';
    const problems = state.problems.length
      ? `<div class="problem" role="alert"><p>The post was not created:</p><ul>${state.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul></div>`
      : '';
    const body = `${problems}
<p><a href="${DASHBOARD}/posts">All posts</a></p>
<form method="post" action="${COMPOSE}" enctype="multipart/form-data" class="card" aria-label="New post">
${csrfField(session.csrfToken)}
<label for="text">Text</label>
<textarea id="text" name="text" maxlength="100000" rows="6"${invalid('text') ? ' aria-invalid="true"' : ''}>${escapeHtml(state.text)}</textarea>
<fieldset${invalid('accounts') ? ' aria-invalid="true"' : ''}><legend>Accounts</legend>
${accounts.length ? accountBoxes : `<p class="muted">No active accounts yet: <a href="${DASHBOARD}/accounts">connect one</a> first, or save a draft.</p>`}
</fieldset>
<fieldset><legend>When</legend>
${when('now', 'Publish now')}
${when('schedule', 'Schedule')}
${when('draft', 'Save as a draft')}
<label for="scheduled_at">Date and time (UTC)</label>
<input id="scheduled_at" name="scheduled_at" type="datetime-local" value="${escapeHtml(state.scheduledAt)}" aria-describedby="scheduled_hint"${invalid('scheduled_at') ? ' aria-invalid="true"' : ''}>
<p class="hint" id="scheduled_hint">Used when "Schedule" is chosen. Times are UTC, like every time on this dashboard.</p>
</fieldset>
${attached}
<label for="alt">Image description</label>
<input id="alt" name="alt" type="text" maxlength="2000" value="${escapeHtml(state.alt)}" aria-describedby="alt_hint">
<p class="hint" id="alt_hint">What the image shows, for people who cannot see it. Given to every file of this post.</p>
<label for="files">Images or videos</label>
<input id="files" name="files" type="file" multiple accept="image/*,video/*" aria-describedby="files_hint">
<p class="hint" id="files_hint">Up to ${MAX_FILES} files, ${sizeInWords(ctx.config.media.maxBytes)} each at most. Each network's own limits are checked before the post is accepted.</p>
<div class="actions"><button type="submit">Create post</button></div>
</form>`;
    return dashboardPage({ title: 'New post', section: 'posts', organizationName: session.organizationName, csrfToken: session.csrfToken }, body);
  }

  const empty = (): FormState => ({ text: '', accounts: [], when: 'now', scheduledAt: '', alt: '', attached: [], problems: [], accountProblems: new Map() });

  async function refuse(reply: FastifyReply, session: SignedIn, code: number, state: FormState) {
    return sendDashboard(reply, code, renderForm(session, await activeAccounts(session.orgId), state));
  }

  const tokenRefused = (reply: FastifyReply) =>
    sendDashboard(
      reply.header('connection', 'close'),
      403,
      dashboardPage(
        { title: 'Form expired', error: 'This form was not sent from your dashboard session. Go back, reload the page and try again.' },
        `<p><a href="${DASHBOARD}">Back to the dashboard</a></p>`,
      ),
    );

  app.get(COMPOSE, async (req, reply) => {
    const session = signedIn(req);
    return sendDashboard(reply, 200, renderForm(session, await activeAccounts(session.orgId), empty()));
  });

  app.register(async (scope) => {
    await acceptMultipart(scope, { maxFileBytes: ctx.config.media.maxBytes, maxFiles: MAX_FILES });

    scope.post(COMPOSE, { config: { ...CSRF_IN_MULTIPART, longUpload: true } as object }, async (req: FastifyRequest, reply) => {
      const session = signedIn(req);
      const uploaded: MediaRow[] = [];
      const uploadProblems: string[] = [];
      let fields: FormFields;
      if (req.isMultipart()) {
        req.raw.socket.setTimeout(UPLOAD_IDLE_MS, () => req.raw.socket.destroy());
        try {
          fields = await readMultipartForm(req, session.csrfToken, async (part, before) => {
            // An empty file input still sends a part; a form already wrong keeps no file.
            if (!part.filename || uploadProblems.length || !ComposeForm.safeParse(before).success) {
              part.file.resume();
              return;
            }
            const name = part.filename.replace(/[/\\\p{Cc}]/gu, '_').slice(-255);
            const tooLarge = () => `${name}: The most this installation accepts is ${ctx.config.media.maxBytes} bytes (SWITCHBOARD_MAX_MEDIA_BYTES).`;
            // Busboy cuts a file at the limit (`truncated`, 'limit'; a small body may be cut before we see the
            // part): the store is told, and keeps nothing of it.
            if (part.file.truncated) {
              part.file.resume();
              uploadProblems.push(tooLarge());
              return;
            }
            const bytes = new PassThrough();
            part.file.on('limit', () => bytes.destroy(new MediaTooLarge(ctx.config.media.maxBytes)));
            part.file.pipe(bytes);
            try {
              const row = await receiveFile(ctx, session.orgId, name, bytes);
              if (part.file.truncated) {
                await deleteMedia(ctx, session.orgId, row.id);
                uploadProblems.push(tooLarge());
              } else {
                uploaded.push(row);
              }
            } catch (err) {
              part.file.unpipe(bytes);
              part.file.resume();
              if (!(err instanceof ApiError)) throw err;
              uploadProblems.push(`${name}: ${err.detail ?? err.error}`);
            }
          });
        } catch (err) {
          if (err instanceof FormTokenRefused) {
            req.log.warn({ path: req.routeOptions.url }, 'dashboard form without a valid CSRF token');
            return tokenRefused(reply);
          }
          if (err instanceof FormTooLarge) return refuse(reply, session, 413, { ...empty(), attached: uploaded, problems: [`${err.message}.`] });
          throw err;
        }
      } else {
        // The same form sent without files (a client that does not send multipart): the token is in the body.
        const body = (req.body ?? {}) as FormFields;
        if (typeof body._csrf !== 'string' || !safeEqual(body._csrf, session.csrfToken)) return tokenRefused(reply);
        fields = body;
      }

      const keptIds = asList(fields.media).filter((id) => ID_PATTERN.test(id));
      const kept = [...(await activeMediaByIds(ctx.db, session.orgId, keptIds)).values()];
      const attached = [...kept, ...uploaded];
      const state: FormState = {
        text: asString(fields.text),
        accounts: asList(fields.accounts),
        when: asString(fields.when) || 'now',
        scheduledAt: asString(fields.scheduled_at),
        alt: asString(fields.alt),
        attached,
        // A file attached to an earlier try that is gone meanwhile (deleted, expired) is said, not left out silently.
        problems: [...uploadProblems, ...(kept.length < new Set(keptIds).size ? ['Attached files: one of them is no longer available; attach it again.'] : [])],
        accountProblems: new Map(),
      };
      const parsed = ComposeForm.safeParse(fields);
      if (!parsed.success) for (const issue of parsed.error.issues) state.problems.push(`${LABELS[String(issue.path[0])] ?? 'Form'}: ${issue.message}.`);
      if (parsed.success && !parsed.data.text.trim() && !attached.length) state.problems.push('Text: write something, or attach an image or video.');
      if (state.problems.length || !parsed.success) return refuse(reply, session, 400, state);

      const form: ComposeForm = parsed.data;
      const body = CreatePostBody.parse({
        containers: [{ content: form.text, media: attached.map((m) => ({ id: m.id, ...(form.alt ? { alt: form.alt } : {}) })) }],
        accounts: form.when === 'draft' && !form.accounts.length ? undefined : form.accounts,
        scheduledAt: form.when === 'schedule' ? new Date(`${form.scheduled_at}Z`).toISOString() : undefined,
        isDraft: form.when === 'draft',
      });
      try {
        const post = await submitPost(ctx, session.orgId, body);
        const notice = post.status === 'draft' ? 'draft' : post.status === 'scheduled' ? 'scheduled' : 'published';
        return reply.redirect(`${DASHBOARD}/posts/${post.id}?notice=${notice}`, 303);
      } catch (err) {
        if (!(err instanceof PostRefused)) throw err;
        const accounts = await activeAccounts(session.orgId);
        const byId = new Map(accounts.map((a) => [a.id, a]));
        const found: Array<{ path: string[]; message: string }> = [];
        collect(err.details, [], found);
        for (const { path, message } of found) {
          const sentence = `${message.charAt(0).toUpperCase()}${message.slice(1)}${/[.!?]$/.test(message) ? '' : '.'}`;
          if (path[0] === 'accounts' && path[1]) {
            const account = byId.get(path[1]);
            if (account) {
              state.accountProblems.set(account.id, [...(state.accountProblems.get(account.id) ?? []), sentence]);
              state.problems.push(`${accountLabel(account)} (${networkName(account.network)}): ${sentence}`);
            } else {
              state.problems.push(`Accounts: ${sentence}`);
            }
          } else if (path[0] === 'containers' && path[2] === 'media' && path[3] !== undefined) {
            state.problems.push(`${attached[Number(path[3])]?.filename ?? 'A file'}: ${sentence}`);
          } else {
            state.problems.push(`${LABELS[path[0] === 'containers' || path[0] === 'content' ? 'text' : path[0]] ?? 'Post'}: ${sentence}`);
          }
        }
        if (!state.problems.length) state.problems.push('The post was refused.');
        return sendDashboard(reply, 400, renderForm(session, accounts, state));
      }
    });
  });
}
