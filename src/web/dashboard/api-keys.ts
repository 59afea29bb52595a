// API keys: create (the key is shown once, on the page answering the form), revoke.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../../orgs/api-keys.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
import { field } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const CreateForm = z.object({ name: field.pipe(z.string().trim().min(1, 'give the key a name').max(200)) });

const NOTICES: Record<string, string> = { revoked: 'The key was revoked: requests with it are refused from now on.' };
const ADMIN_REQUIRED = 'Only a session signed in with an admin key can revoke an admin key.';

export function apiKeyPages(app: FastifyInstance, ctx: AppContext) {
  async function render(session: SignedIn, opts: { notice?: string; error?: string; created?: { name: string; key: string } }) {
    const keys = await listApiKeys(ctx.db, session.orgId);
    const rows = keys
      .map(
        (k) => `<tr>
  <th scope="row">${escapeHtml(k.name)}${k.id === session.keyId ? ' <span class="muted">(this session)</span>' : ''}</th>
  <td><code>${escapeHtml(k.prefix)}…</code></td>
  <td>${k.role === 'admin' ? 'Admin' : 'Standard'}</td>
  <td>${formatTime(k.created_at)}</td>
  <td>${formatTime(k.last_used_at)}</td>
  <td>${
    k.revoked_at
      ? `Revoked ${formatTime(k.revoked_at)}`
      : k.role === 'admin' && session.role !== 'admin'
        ? '<span class="muted">Revoked with an admin key</span>'
        : `<form method="post" action="${DASHBOARD}/api-keys/${escapeHtml(k.id)}/revoke" class="inline">${csrfField(session.csrfToken)}<button type="submit" class="danger" aria-label="Revoke ${escapeHtml(k.name)}">Revoke</button></form>`
  }</td>
</tr>`,
      )
      .join('\n');
    const created = opts.created
      ? `<section class="card" aria-labelledby="new-key"><h2 id="new-key">New key “${escapeHtml(opts.created.name)}”</h2>
<p>Copy it now: it is shown only this once and cannot be recovered.</p>
<p class="secret" id="new-key-value">${escapeHtml(opts.created.key)}</p></section>`
      : '';
    const body = `${created}
${scrollingTable(
  'API keys',
  `<table><thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
<tbody>${rows}</tbody></table>`,
)}
<h2 id="create">Create a key</h2>
<form method="post" action="${DASHBOARD}/api-keys" class="card" aria-labelledby="create">
${csrfField(session.csrfToken)}
<label for="name">Name</label>
<input id="name" name="name" type="text" required maxlength="200" aria-describedby="name_hint">
<p class="hint" id="name_hint">What uses the key, e.g. "production backend". New keys are standard keys.</p>
<div class="actions"><button type="submit">Create key</button></div>
</form>`;
    return dashboardPage({ title: 'API keys', section: 'api-keys', organizationName: session.organizationName, csrfToken: session.csrfToken, ...opts }, body);
  }

  app.get<{ Querystring: { notice?: string } }>(`${DASHBOARD}/api-keys`, async (req, reply) =>
    sendDashboard(reply, 200, await render(signedIn(req), { notice: NOTICES[String(req.query.notice ?? '')] })),
  );

  app.post(`${DASHBOARD}/api-keys`, async (req, reply) => {
    const session = signedIn(req);
    const parsed = CreateForm.safeParse(req.body ?? {});
    if (!parsed.success) return sendDashboard(reply, 400, await render(session, { error: `Name: ${parsed.error.issues[0]?.message}.` }));
    const { key } = await createApiKey(ctx.db, { orgId: session.orgId, name: parsed.data.name });
    return sendDashboard(reply, 201, await render(session, { created: { name: parsed.data.name, key } }));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/api-keys/:id/revoke`, async (req, reply) => {
    const session = signedIn(req);
    const outcome = await revokeApiKey(ctx.db, session, req.params.id);
    if (outcome === 'admin_required') return sendDashboard(reply, 403, await render(session, { error: ADMIN_REQUIRED }));
    // Revoking the key this session signed in with ends the session: the next page asks to sign in again.
    return reply.redirect(`${DASHBOARD}/api-keys?notice=revoked`, 303);
  });
}
