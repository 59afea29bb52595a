// Networks: every supported network with the callback URL to register at it and its default scopes; a form to
// configure the organization's app for one, edit it (the stored secret is kept unless a new one is typed) or delete
// it (after a confirmation step: its accounts are disconnected); "Test connection" runs a real flow in a new tab.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { callbackUrl } from '../../context.ts';
import { countAccounts } from '../../accounts/accounts.ts';
import { createStartUrl } from '../../connect/flows.ts';
import { appCredentials, deleteNetworkConfig, findNetworkConfig, listNetworkConfigs, saveNetworkConfig, toView, type NetworkConfigRow } from '../../networks/network-configs.ts';
import { defaultWorkspaceId } from '../../orgs/organizations.ts';
import type { NetworkAdapter } from '../../providers/types.ts';
import { urlProblem } from '../../security/private-urls.ts';
import { escapeHtml } from '../pages.ts';
import { copyButton, csrfField, DASHBOARD, dashboardPage, scrollingTable, sendDashboard } from './layout.ts';
import { field, firstProblem, splitLines, splitWords } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const SaveForm = z.object({
  network: field.pipe(z.string().min(1, 'choose a network')),
  client_key: field.pipe(z.string().trim().max(1024)),
  client_secret: field.pipe(z.string().trim().max(4096)),
  scopes: field.pipe(z.string().max(10_000)),
  redirect_uris: field.pipe(z.string().max(100_000)),
});
type SaveForm = z.infer<typeof SaveForm>;

const LABELS = { network: 'Network', client_key: 'Client ID', client_secret: 'Client secret', scopes: 'Scopes', redirect_uris: 'Redirect URIs' };

const NOTICES: Record<string, string> = { saved: 'The network was saved.', deleted: 'The network configuration was deleted and its accounts disconnected.' };

type Echo = Record<string, string>;
const echoOf = (raw: Record<string, unknown>): Echo => ({
  network: String(raw.network ?? ''),
  client_key: String(raw.client_key ?? ''),
  scopes: String(raw.scopes ?? ''),
  redirect_uris: String(raw.redirect_uris ?? ''),
});

/** The app fields of the create and edit forms, filled from `form` (never the secret). */
function appFields(form: Echo, editing?: NetworkAdapter): string {
  return `<label for="client_key">Client ID</label>
<input id="client_key" name="client_key" type="text" autocomplete="off" value="${escapeHtml(form.client_key ?? '')}" aria-describedby="client_key_hint">
<p class="hint" id="client_key_hint">Your app's client id at the network (TikTok: client key). Not needed for the sandbox.</p>
<label for="client_secret">Client secret</label>
<input id="client_secret" name="client_secret" type="password" autocomplete="off" aria-describedby="client_secret_hint">
<p class="hint" id="client_secret_hint">${
    editing
      ? 'Stored encrypted and never shown. Leave empty to keep the stored secret; type one to replace it.'
      : "Stored encrypted and never shown again. Saving replaces the network's whole configuration."
  }</p>
<label for="scopes">Scopes</label>
<input id="scopes" name="scopes" type="text" value="${escapeHtml(form.scopes ?? '')}" aria-describedby="scopes_hint">
<p class="hint" id="scopes_hint">Separated by spaces. Leave empty for the network's default scopes${editing ? ` (${escapeHtml(editing.defaultScopes.join(' ') || 'none')})` : ' (listed above)'}.</p>
<label for="redirect_uris">Redirect URIs</label>
<textarea id="redirect_uris" name="redirect_uris" aria-describedby="redirect_uris_hint">${escapeHtml(form.redirect_uris ?? '')}</textarea>
<p class="hint" id="redirect_uris_hint">One per line: where your app may ask us to send users back after connecting.</p>`;
}

export function networkPages(app: FastifyInstance, ctx: AppContext) {
  const frameOf = (session: SignedIn, title: string) => ({ title, section: 'networks' as const, organizationName: session.organizationName, csrfToken: session.csrfToken });
  const callbackId = (network: string) => `callback-${network}`;

  async function render(orgId: string, opts: { notice?: string; error?: string; form?: Echo }, req: object) {
    const session = signedIn(req);
    const configs = new Map((await listNetworkConfigs(ctx.db, orgId)).map((row) => [row.network, toView(ctx, row)]));
    const networks = ctx.adapters.supported().map((id) => ctx.adapters.get(id)!);
    const rows = networks
      .map((adapter) => {
        const config = configs.get(adapter.network);
        const scopes = config ? config.scopes : [...adapter.defaultScopes];
        const network = escapeHtml(adapter.network);
        const actions = config
          ? [
              adapter.connection !== 'app_password'
                ? `<a class="button secondary" href="${DASHBOARD}/networks/${network}/test" target="_blank" rel="noopener">Test connection<span class="muted"> (${escapeHtml(adapter.displayName)}, opens a new tab)</span></a>`
                : '',
              `<a class="button secondary" href="${DASHBOARD}/networks/${network}/edit" aria-label="Edit ${escapeHtml(adapter.displayName)}">Edit</a>`,
              `<a class="button danger" href="${DASHBOARD}/networks/${network}/delete" aria-label="Delete ${escapeHtml(adapter.displayName)}">Delete…</a>`,
            ].filter(Boolean)
          : [];
        return `<tr>
  <th scope="row">${escapeHtml(adapter.displayName)}</th>
  <td data-label="Status">${config ? 'Configured' : '<span class="muted">Not configured</span>'}</td>
  <td data-label="Callback URL"><code id="${callbackId(network)}">${escapeHtml(callbackUrl(ctx.config.publicUrl, adapter.network))}</code>${copyButton(callbackId(adapter.network), `the ${adapter.displayName} callback URL`)}</td>
  <td data-label="Scopes"><span class="mono">${escapeHtml(scopes.join(' ') || '—')}</span></td>
  <td data-label="Redirect URIs">${config ? escapeHtml(config.redirect_uris.join(', ') || '—') : '—'}</td>
  <td>${actions.length ? `<div class="actions stacked">${actions.join('')}</div>` : ''}</td>
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
  `<table class="cards"><thead><tr><th scope="col">Network</th><th scope="col">Status</th><th scope="col">Callback URL</th><th scope="col">Scopes</th><th scope="col">Redirect URIs</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
<tbody>${rows}</tbody></table>`,
)}
<h2 id="configure">Configure a network</h2>
<form method="post" action="${DASHBOARD}/networks" class="card" aria-labelledby="configure">
${csrfField(session.csrfToken)}
<label for="network">Network</label>
<select id="network" name="network" required><option value="">Choose…</option>${options}</select>
${appFields(form)}
<div class="actions"><button type="submit">Save network</button></div>
</form>`;
    return dashboardPage({ ...frameOf(session, 'Networks'), notice: opts.notice, error: opts.error }, body);
  }

  function editPage(session: SignedIn, adapter: NetworkAdapter, row: NetworkConfigRow, opts: { form?: Echo; error?: string } = {}) {
    const view = toView(ctx, row);
    const form = opts.form ?? { client_key: row.clientKey, scopes: row.scopes?.join(' ') ?? '', redirect_uris: row.redirectUris.join('\n') };
    const network = escapeHtml(adapter.network);
    const body = `<p><a href="${DASHBOARD}/networks">All networks</a></p>
<section class="card" aria-label="Configuration">
<dl class="facts">
<dt>Configuration id</dt><dd><span class="mono" id="config-id">${escapeHtml(view.id)}</span>${copyButton('config-id', 'the configuration id')}</dd>
<dt>Callback URL</dt><dd><code id="${callbackId(network)}">${escapeHtml(view.callback_url)}</code>${copyButton(callbackId(adapter.network), 'the callback URL')}</dd>
<dt>Client secret</dt><dd>${view.has_client_secret ? 'Stored' : 'None'}</dd>
</dl>
</section>
<form method="post" action="${DASHBOARD}/networks/${network}/edit" class="card" aria-label="Edit ${escapeHtml(adapter.displayName)}">
${csrfField(session.csrfToken)}
${appFields(form, adapter)}
<div class="actions"><button type="submit">Save changes</button><a href="${DASHBOARD}/networks">Cancel</a></div>
</form>`;
    return dashboardPage({ ...frameOf(session, `Edit ${adapter.displayName}`), error: opts.error }, body);
  }

  async function deletePage(session: SignedIn, adapter: NetworkAdapter, error?: string) {
    const connected = (await countAccounts(ctx.db, session.orgId, { network: adapter.network })) - (await countAccounts(ctx.db, session.orgId, { network: adapter.network, status: 'disconnected' }));
    const network = escapeHtml(adapter.network);
    const body = `<form method="post" action="${DASHBOARD}/networks/${network}/delete" class="card">
${csrfField(session.csrfToken)}<input type="hidden" name="confirm" value="yes">
<p>This deletes your ${escapeHtml(adapter.displayName)} app configuration (client ID, secret, scopes, redirect URIs). ${
      connected
        ? `<strong>${connected === 1 ? '1 connected account' : `${connected} connected accounts`}</strong> of this network will be disconnected (tokens deleted, <code>account.disconnected</code> sent), and connections in progress end.`
        : 'No connected account uses it.'
    }</p>
<div class="actions"><button type="submit" class="danger">Delete the ${escapeHtml(adapter.displayName)} configuration</button><a href="${DASHBOARD}/networks">Cancel</a></div>
</form>`;
    return dashboardPage({ ...frameOf(session, `Delete ${adapter.displayName}?`), error }, body);
  }

  /** The organization's configured network named in the path, or a 404 page. */
  async function configured(req: { params: { network: string } } & object, reply: FastifyReply) {
    const session = signedIn(req);
    const adapter = ctx.adapters.resolve(req.params.network);
    const row = adapter && (await findNetworkConfig(ctx.db, session.orgId, adapter.network));
    if (adapter && row) return { session, adapter, row };
    await sendDashboard(reply, 404, await render(session.orgId, { error: 'That network is not configured in this organization.' }, req));
    return undefined;
  }

  /** The form checked as the API checks a configuration; the app's settings, or the problem in plain words. */
  function checkForm(form: SaveForm, adapter: NetworkAdapter, keptSecret?: string): { error: string } | { clientKey?: string; clientSecret?: string; scopes?: string[]; redirectUris: string[] } {
    const clientSecret = form.client_secret || keptSecret;
    if (!adapter.builtInApp && adapter.connection !== 'app_password' && (!form.client_key || !clientSecret)) {
      return { error: `${adapter.displayName} needs your app's client ID and client secret.` };
    }
    const redirectUris = [...new Set(splitLines(form.redirect_uris))];
    for (const uri of redirectUris) {
      const problem = urlProblem(uri, ctx.config.allowPrivateUrls);
      if (problem) return { error: `Redirect URI ${uri} ${problem}.` };
    }
    const scopes = splitWords(form.scopes);
    return { clientKey: form.client_key || undefined, clientSecret: clientSecret || undefined, scopes: scopes.length ? scopes : undefined, redirectUris };
  }

  app.get<{ Querystring: { notice?: string } }>(`${DASHBOARD}/networks`, async (req, reply) => {
    const notice = NOTICES[String(req.query.notice ?? '')];
    return sendDashboard(reply, 200, await render(signedIn(req).orgId, { notice }, req));
  });

  app.post(`${DASHBOARD}/networks`, async (req, reply) => {
    const { orgId } = signedIn(req);
    const raw = (req.body ?? {}) as Record<string, unknown>;
    const refuse = async (error: string) => sendDashboard(reply, 400, await render(orgId, { error, form: echoOf(raw) }, req));
    const parsed = SaveForm.safeParse(raw);
    if (!parsed.success) return refuse(firstProblem(parsed.error, LABELS));
    const adapter = ctx.adapters.resolve(parsed.data.network);
    if (!adapter) return refuse(`Network: "${parsed.data.network}" is not supported.`);
    const checked = checkForm(parsed.data, adapter);
    if ('error' in checked) return refuse(checked.error);
    // The form has no field for network-specific options: keep the ones set through the API.
    const existing = await findNetworkConfig(ctx.db, orgId, adapter.network);
    await saveNetworkConfig(ctx, orgId, adapter, { ...checked, options: existing?.options });
    return reply.redirect(`${DASHBOARD}/networks?notice=saved`, 303);
  });

  app.get<{ Params: { network: string } }>(`${DASHBOARD}/networks/:network/edit`, async (req, reply) => {
    const found = await configured(req, reply);
    if (found) return sendDashboard(reply, 200, editPage(found.session, found.adapter, found.row));
  });

  app.post<{ Params: { network: string } }>(`${DASHBOARD}/networks/:network/edit`, async (req, reply) => {
    const found = await configured(req, reply);
    if (!found) return;
    const { session, adapter, row } = found;
    const raw = { ...((req.body ?? {}) as Record<string, unknown>), network: adapter.network };
    const refuse = (error: string) => sendDashboard(reply, 400, editPage(session, adapter, row, { error, form: echoOf(raw) }));
    const parsed = SaveForm.safeParse(raw);
    if (!parsed.success) return refuse(firstProblem(parsed.error, LABELS));
    // An empty secret field keeps the stored secret (it is never sent to the page).
    const kept = row.clientSecretEnc ? appCredentials(ctx, row, adapter).clientSecret : undefined;
    const checked = checkForm(parsed.data, adapter, kept);
    if ('error' in checked) return refuse(checked.error);
    await saveNetworkConfig(ctx, session.orgId, adapter, { ...checked, options: row.options });
    return reply.redirect(`${DASHBOARD}/networks?notice=saved`, 303);
  });

  app.get<{ Params: { network: string } }>(`${DASHBOARD}/networks/:network/delete`, async (req, reply) => {
    const found = await configured(req, reply);
    if (found) return sendDashboard(reply, 200, await deletePage(found.session, found.adapter));
  });

  app.post<{ Params: { network: string } }>(`${DASHBOARD}/networks/:network/delete`, async (req, reply) => {
    const found = await configured(req, reply);
    if (!found) return;
    if (field.parse((req.body as Record<string, unknown> | undefined)?.confirm) !== 'yes') {
      return sendDashboard(reply, 400, await deletePage(found.session, found.adapter, 'Confirm first: nothing was deleted yet.'));
    }
    await deleteNetworkConfig(ctx, found.session.orgId, found.row);
    req.log.info({ network: found.adapter.network }, 'network configuration deleted from the dashboard');
    return reply.redirect(`${DASHBOARD}/networks?notice=deleted`, 303);
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
