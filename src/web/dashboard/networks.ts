// Networks: every supported network with the callback URL to register at it and its default scopes; a form to
// configure the organization's app for one; "Test connection" runs a real flow in a new tab.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { callbackUrl } from '../../context.ts';
import { createStartUrl } from '../../connect/flows.ts';
import { findNetworkConfig, listNetworkConfigs, saveNetworkConfig, toView } from '../../networks/network-configs.ts';
import { defaultWorkspaceId } from '../../orgs/organizations.ts';
import { urlProblem } from '../../security/private-urls.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, scrollingTable, sendDashboard } from './layout.ts';
import { field, firstProblem, splitLines, splitWords } from './forms.ts';
import { signedIn } from './sessions.ts';

const SaveForm = z.object({
  network: field.pipe(z.string().min(1, 'choose a network')),
  client_key: field.pipe(z.string().trim().max(1024)),
  client_secret: field.pipe(z.string().trim().max(4096)),
  scopes: field.pipe(z.string().max(10_000)),
  redirect_uris: field.pipe(z.string().max(100_000)),
});

const LABELS = { network: 'Network', client_key: 'Client ID', client_secret: 'Client secret', scopes: 'Scopes', redirect_uris: 'Redirect URIs' };

const NOTICES: Record<string, string> = { saved: 'The network was saved.' };

export function networkPages(app: FastifyInstance, ctx: AppContext) {
  async function render(orgId: string, opts: { notice?: string; error?: string; form?: Record<string, string> }, req: object) {
    const session = signedIn(req);
    const configs = new Map((await listNetworkConfigs(ctx.db, orgId)).map((row) => [row.network, toView(ctx, row)]));
    const networks = ctx.adapters.supported().map((id) => ctx.adapters.get(id)!);
    const rows = networks
      .map((adapter) => {
        const config = configs.get(adapter.network);
        const scopes = config ? config.scopes : [...adapter.defaultScopes];
        return `<tr>
  <th scope="row">${escapeHtml(adapter.displayName)}</th>
  <td>${config ? 'Configured' : '<span class="muted">Not configured</span>'}</td>
  <td><code>${escapeHtml(callbackUrl(ctx.config.publicUrl, adapter.network))}</code></td>
  <td><span class="mono">${escapeHtml(scopes.join(' ') || '—')}</span></td>
  <td>${config ? escapeHtml(config.redirect_uris.join(', ') || '—') : '—'}</td>
  <td>${
    config && adapter.connection !== 'app_password'
      ? `<a class="button secondary" href="${DASHBOARD}/networks/${escapeHtml(adapter.network)}/test" target="_blank" rel="noopener">Test connection<span class="muted"> (${escapeHtml(adapter.displayName)}, opens a new tab)</span></a>`
      : ''
  }</td>
</tr>`;
      })
      .join('\n');
    const form = opts.form ?? {};
    const options = networks
      .map((a) => `<option value="${escapeHtml(a.network)}"${form.network === a.network ? ' selected' : ''}>${escapeHtml(a.displayName)}</option>`)
      .join('');
    const body = `<p>Register each network's <strong>callback URL</strong> exactly as shown in your app's settings at the network, then store the app's credentials here.</p>
${scrollingTable(
  'Networks',
  `<table><thead><tr><th scope="col">Network</th><th scope="col">Status</th><th scope="col">Callback URL</th><th scope="col">Scopes</th><th scope="col">Redirect URIs</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
<tbody>${rows}</tbody></table>`,
)}
<h2 id="configure">Configure a network</h2>
<form method="post" action="${DASHBOARD}/networks" class="card" aria-labelledby="configure">
${csrfField(session.csrfToken)}
<label for="network">Network</label>
<select id="network" name="network" required><option value="">Choose…</option>${options}</select>
<label for="client_key">Client ID</label>
<input id="client_key" name="client_key" type="text" autocomplete="off" value="${escapeHtml(form.client_key ?? '')}" aria-describedby="client_key_hint">
<p class="hint" id="client_key_hint">Your app's client id at the network (TikTok: client key). Not needed for the sandbox.</p>
<label for="client_secret">Client secret</label>
<input id="client_secret" name="client_secret" type="password" autocomplete="off" aria-describedby="client_secret_hint">
<p class="hint" id="client_secret_hint">Stored encrypted and never shown again. Saving replaces the network's whole configuration.</p>
<label for="scopes">Scopes</label>
<input id="scopes" name="scopes" type="text" value="${escapeHtml(form.scopes ?? '')}" aria-describedby="scopes_hint">
<p class="hint" id="scopes_hint">Separated by spaces. Leave empty for the network's default scopes (listed above).</p>
<label for="redirect_uris">Redirect URIs</label>
<textarea id="redirect_uris" name="redirect_uris" aria-describedby="redirect_uris_hint">${escapeHtml(form.redirect_uris ?? '')}</textarea>
<p class="hint" id="redirect_uris_hint">One per line: where your app may ask us to send users back after connecting.</p>
<div class="actions"><button type="submit">Save network</button></div>
</form>`;
    return dashboardPage({ title: 'Networks', section: 'networks', organizationName: session.organizationName, csrfToken: session.csrfToken, notice: opts.notice, error: opts.error }, body);
  }

  app.get<{ Querystring: { notice?: string } }>(`${DASHBOARD}/networks`, async (req, reply) => {
    const notice = NOTICES[String(req.query.notice ?? '')];
    return sendDashboard(reply, 200, await render(signedIn(req).orgId, { notice }, req));
  });

  app.post(`${DASHBOARD}/networks`, async (req, reply) => {
    const { orgId } = signedIn(req);
    const raw = (req.body ?? {}) as Record<string, unknown>;
    const echo = { network: String(raw.network ?? ''), client_key: String(raw.client_key ?? ''), scopes: String(raw.scopes ?? ''), redirect_uris: String(raw.redirect_uris ?? '') };
    const refuse = async (error: string) => sendDashboard(reply, 400, await render(orgId, { error, form: echo }, req));
    const parsed = SaveForm.safeParse(raw);
    if (!parsed.success) return refuse(firstProblem(parsed.error, LABELS));
    const form = parsed.data;
    const adapter = ctx.adapters.resolve(form.network);
    if (!adapter) return refuse(`Network: "${form.network}" is not supported.`);
    if (!adapter.builtInApp && adapter.connection !== 'app_password' && (!form.client_key || !form.client_secret)) {
      return refuse(`${adapter.displayName} needs your app's client ID and client secret.`);
    }
    const redirectUris = [...new Set(splitLines(form.redirect_uris))];
    for (const uri of redirectUris) {
      const problem = urlProblem(uri, ctx.config.allowPrivateUrls);
      if (problem) return refuse(`Redirect URI ${uri} ${problem}.`);
    }
    const scopes = splitWords(form.scopes);
    // The form has no field for network-specific options: keep the ones set through the API.
    const existing = await findNetworkConfig(ctx.db, orgId, adapter.network);
    await saveNetworkConfig(ctx, orgId, adapter, {
      clientKey: form.client_key || undefined,
      clientSecret: form.client_secret || undefined,
      scopes: scopes.length ? scopes : undefined,
      redirectUris,
      options: existing?.options,
    });
    return reply.redirect(`${DASHBOARD}/networks?notice=saved`, 303);
  });

  // A link (not a form) so the browser may follow the redirects to the network: a form post's redirects are
  // bound by the page's CSP `form-action 'self'`. A GET that only makes a 15-minute start link, and the session
  // cookie is SameSite=Strict, so another site cannot make a signed-in browser do it.
  app.get<{ Params: { network: string } }>(`${DASHBOARD}/networks/:network/test`, async (req, reply) => {
    const { orgId } = signedIn(req);
    const adapter = ctx.adapters.resolve(req.params.network);
    const config = adapter && (await findNetworkConfig(ctx.db, orgId, adapter.network));
    if (!config) return sendDashboard(reply, 404, await render(orgId, { error: 'That network is not configured yet: save it first.' }, req));
    const { authUrl } = createStartUrl(ctx, orgId, config, { selection: 'hosted', workspaceId: await defaultWorkspaceId(ctx.db, orgId) });
    return reply.header('referrer-policy', 'no-referrer').redirect(authUrl, 303);
  });
}
