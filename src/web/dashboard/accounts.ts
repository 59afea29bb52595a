// Accounts: newest first with their count, filter by tenant, network and status; token expiry and the last refresh
// error; disconnect (after a confirmation step) and, for sandbox accounts, "make this grant die". Paged on the server
// with a keyset cursor like the API's, so the 2,000th page costs what the first does. One card per account on a phone.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { countAccounts, findAccount, listAccounts, type AccountRow, type ListedAccount } from '../../accounts/accounts.ts';
import { disconnectAccount } from '../../accounts/disconnect.ts';
import { isSandboxAccount, makeSandboxGrantDie } from '../../accounts/sandbox-grant.ts';
import { createStartUrl } from '../../connect/flows.ts';
import { findNetworkConfig } from '../../networks/network-configs.ts';
import { TENANT_ID } from '../../http/schemas.ts';
import type { NetworkId } from '../../providers/types.ts';
import { escapeHtml } from '../pages.ts';
import { copyButton, csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
import { field } from './forms.ts';
import { signedIn } from './sessions.ts';

const PAGE_SIZE = 50;
const STATUSES = ['active', 'reauth_required', 'disconnected'] as const;
const STATUS_LABELS: Record<AccountRow['status'], string> = { active: 'Active', reauth_required: 'Needs reconnecting', disconnected: 'Disconnected' };

const Filters = z.object({
  tenant: field.pipe(z.string().trim().max(128).refine((v) => v === '' || TENANT_ID.test(v), 'may contain only letters, digits, underscores and hyphens')),
  network: field.pipe(z.string().max(64)),
  status: field.pipe(z.union([z.literal(''), z.enum(STATUSES)])),
  cursor: field.pipe(z.string().max(64)),
});
type Filters = z.infer<typeof Filters>;

const NOTICES: Record<string, string> = {
  disconnected: 'The account was disconnected: its tokens are deleted and it was revoked at the network where possible.',
  'grant-died': 'The sandbox grant was revoked and the account checked: it now needs reconnecting, and account.reauth_required was sent to your webhooks.',
  'grant-revoked': "The sandbox grant was revoked: the account's next refresh, publish or health check fails and marks it as needing reconnecting.",
  'grant-gone': 'The sandbox had no live grant left for this account (it was revoked before).',
};

/** Only our own query string goes back into a link (never an arbitrary URL). */
function backQuery(value: unknown): URLSearchParams {
  const back = new URLSearchParams(String(value ?? '').replace(/^\?/, '').slice(0, 1000));
  for (const key of [...back.keys()]) if (!['tenant', 'network', 'status', 'cursor'].includes(key)) back.delete(key);
  return back;
}

function query(filters: Partial<Filters>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function accountPages(app: FastifyInstance, ctx: AppContext) {
  // Accounts connected with an app password (Bluesky) have no link to hand out: they reconnect through the API.
  const reconnectable = (a: ListedAccount) => ctx.adapters.get(a.network as NetworkId)?.connection !== 'app_password';

  app.get<{ Querystring: Record<string, unknown> }>(`${DASHBOARD}/accounts`, async (req, reply) => {
    const session = signedIn(req);
    const parsed = Filters.safeParse(req.query ?? {});
    const filters: Filters = parsed.success ? parsed.data : { tenant: '', network: '', status: '', cursor: '' };
    const error = parsed.success ? undefined : `Tenant ${parsed.error.issues[0]?.message ?? 'is not valid'}.`;
    const where = { tenantId: filters.tenant || undefined, network: filters.network || undefined, status: filters.status || undefined };
    const [rows, total] = error
      ? [[], 0]
      : await Promise.all([
          listAccounts(ctx.db, session.orgId, where, { limit: PAGE_SIZE + 1, offset: 0, cursor: filters.cursor || undefined, newestFirst: true }),
          countAccounts(ctx.db, session.orgId, where),
        ]);
    const more = rows.length > PAGE_SIZE;
    const shown = rows.slice(0, PAGE_SIZE);
    const networkName = (id: string) => ctx.adapters.get(id as NetworkId)?.displayName ?? id;
    const networkOptions = ctx.adapters
      .supported()
      .map((id) => `<option value="${id}"${filters.network === id ? ' selected' : ''}>${escapeHtml(networkName(id))}</option>`)
      .join('');
    const statusOptions = STATUSES.map((s) => `<option value="${s}"${filters.status === s ? ' selected' : ''}>${STATUS_LABELS[s]}</option>`).join('');
    const back = encodeURIComponent(query({ ...filters }));
    const tableRows = shown
      .map((a) => {
        const name = a.nickname ?? a.username ?? a.networkUniqueId;
        const id = escapeHtml(a.id);
        const actions = [
          reconnectable(a)
            ? `<form method="post" action="${DASHBOARD}/accounts/${id}/reconnect">${csrfField(session.csrfToken)}<button type="submit" class="secondary" aria-label="Reconnect link for ${escapeHtml(name)}">Reconnect link</button></form>`
            : '',
          a.status === 'disconnected'
            ? ''
            : `<a class="button danger" href="${DASHBOARD}/accounts/${id}/disconnect?back=${back}" aria-label="Disconnect ${escapeHtml(name)}">Disconnect…</a>`,
          isSandboxAccount(a) && a.status === 'active'
            ? `<a class="button secondary" href="${DASHBOARD}/accounts/${id}/sandbox-grant?back=${back}" aria-label="Make the grant of ${escapeHtml(name)} die">Make this grant die…</a>`
            : '',
        ].filter(Boolean);
        return `<tr>
  <th scope="row">${escapeHtml(name)}${a.username ? `<br><span class="muted">@${escapeHtml(a.username)}</span>` : ''}<br><span class="muted mono" id="account-${id}">${id}</span>${copyButton(`account-${a.id}`, `the id of ${name}`)}</th>
  <td data-label="Network">${escapeHtml(networkName(a.network))}</td>
  <td data-label="Tenant">${escapeHtml(a.tenantId ?? '—')}</td>
  <td data-label="Status"><span class="status-${a.status}">${STATUS_LABELS[a.status]}</span></td>
  <td data-label="Token expires">${formatTime(a.tokenExpiresAt)}</td>
  <td data-label="Last refresh">${formatTime(a.lastRefreshedAt)}</td>
  <td data-label="Last refresh error">${a.lastError ? escapeHtml(a.lastError) : '<span class="muted">None</span>'}</td>
  <td>${actions.length ? `<div class="actions stacked">${actions.join('')}</div>` : ''}</td>
</tr>`;
      })
      .join('\n');
    const paging = [
      filters.cursor ? `<a href="${DASHBOARD}/accounts${query({ ...filters, cursor: '' })}">First page</a>` : '',
      more ? `<a href="${DASHBOARD}/accounts${query({ ...filters, cursor: shown[shown.length - 1].id })}" rel="next">Next page</a>` : '',
    ].filter(Boolean);
    const body = `<form method="get" action="${DASHBOARD}/accounts" class="card filters" role="search" aria-label="Filter accounts">
<div><label for="tenant">Tenant</label><input id="tenant" name="tenant" type="text" value="${escapeHtml(filters.tenant)}"></div>
<div><label for="network">Network</label><select id="network" name="network"><option value="">All networks</option>${networkOptions}</select></div>
<div><label for="status">Status</label><select id="status" name="status"><option value="">Any status</option>${statusOptions}</select></div>
<div><button type="submit">Filter</button></div>
</form>
<p class="count" id="account-count">${total === 1 ? '1 account' : `${total} accounts`}${where.tenantId || where.network || where.status ? ' match these filters' : ''}, newest first.</p>
${
  shown.length
    ? scrollingTable(
        'Accounts',
        `<table class="cards accounts"><thead><tr><th scope="col">Account</th><th scope="col">Network</th><th scope="col">Tenant</th><th scope="col">Status</th><th scope="col">Token expires</th><th scope="col">Last refresh</th><th scope="col">Last refresh error</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
<tbody>${tableRows}</tbody></table>`,
      )
    : `<p class="card">No accounts${filters.tenant || filters.network || filters.status ? ' match these filters' : ' yet: configure a network and use "Test connection", or connect one from your app'}.</p>`
}
${paging.length ? `<nav aria-label="Pages" class="actions">${paging.join(' ')}</nav>` : ''}`;
    const notice = NOTICES[String((req.query as Record<string, unknown>).notice ?? '')];
    return sendDashboard(
      reply,
      error ? 400 : 200,
      dashboardPage({ title: 'Accounts', section: 'accounts', organizationName: session.organizationName, csrfToken: session.csrfToken, notice, error }, body),
    );
  });

  const frameOf = (session: ReturnType<typeof signedIn>, title: string) => ({
    title,
    section: 'accounts' as const,
    organizationName: session.organizationName,
    csrfToken: session.csrfToken,
  });
  const notFound = (req: object, reply: Parameters<typeof sendDashboard>[0]) =>
    sendDashboard(
      reply,
      404,
      dashboardPage({ ...frameOf(signedIn(req), 'Account not found'), error: 'There is no such account in this organization.' }, `<p><a href="${DASHBOARD}/accounts">Back to the accounts</a></p>`),
    );

  /** A confirmation step: what will happen, a button that posts it (with `confirm=yes`), and a way back. */
  function confirmPage(session: ReturnType<typeof signedIn>, opts: { title: string; action: string; back: URLSearchParams; explain: string; button: string; extra?: string; error?: string }) {
    const back = opts.back.toString();
    return dashboardPage(
      { ...frameOf(session, opts.title), error: opts.error },
      `<form method="post" action="${opts.action}" class="card">
${csrfField(session.csrfToken)}<input type="hidden" name="confirm" value="yes"><input type="hidden" name="back" value="${escapeHtml(back)}">
${opts.explain}
${opts.extra ?? ''}
<div class="actions"><button type="submit" class="danger">${escapeHtml(opts.button)}</button><a href="${DASHBOARD}/accounts${back ? `?${escapeHtml(back)}` : ''}">Cancel</a></div>
</form>`,
    );
  }

  const accountFacts = (a: AccountRow) => `<dl class="facts">
<dt>Account</dt><dd>${escapeHtml(a.nickname ?? a.username ?? a.networkUniqueId)}${a.username ? ` (@${escapeHtml(a.username)})` : ''}</dd>
<dt>Network</dt><dd>${escapeHtml(ctx.adapters.get(a.network as NetworkId)?.displayName ?? a.network)}</dd>
<dt>Tenant</dt><dd>${escapeHtml(a.tenantId ?? '—')}</dd>
<dt>Id</dt><dd class="mono">${escapeHtml(a.id)}</dd>
</dl>`;

  const disconnectConfirmation = (session: ReturnType<typeof signedIn>, account: AccountRow, back: URLSearchParams, error?: string) =>
    confirmPage(session, {
      title: 'Disconnect this account?',
      action: `${DASHBOARD}/accounts/${escapeHtml(account.id)}/disconnect`,
      back,
      error,
      explain: `${accountFacts(account)}
<p>Its tokens are deleted and it is revoked at the network where the network allows it; your app receives <code>account.disconnected</code>. Posts that are scheduled for it will fail. The person can connect it again later (same id) with a reconnect link.</p>`,
      button: 'Disconnect the account',
    });

  app.get<{ Params: { id: string }; Querystring: { back?: string } }>(`${DASHBOARD}/accounts/:id/disconnect`, async (req, reply) => {
    const session = signedIn(req);
    const account = await findAccount(ctx.db, session.orgId, req.params.id);
    if (!account) return notFound(req, reply);
    return sendDashboard(reply, 200, disconnectConfirmation(session, account, backQuery(req.query.back)));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/accounts/:id/disconnect`, async (req, reply) => {
    const session = signedIn(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const account = await findAccount(ctx.db, session.orgId, req.params.id);
    if (!account) return notFound(req, reply);
    const back = backQuery(body.back);
    if (field.parse(body.confirm) !== 'yes') {
      return sendDashboard(reply, 400, disconnectConfirmation(session, account, back, 'Confirm first: nothing was disconnected yet.'));
    }
    if (account.status !== 'disconnected') await disconnectAccount(ctx, account, { reason: 'Disconnected from the dashboard', log: req.log });
    back.set('notice', 'disconnected');
    return reply.redirect(`${DASHBOARD}/accounts?${back.toString()}`, 303);
  });

  // Sandbox only: the grant dies at the sandbox network, as when a person removes the app in a real network's
  // settings; Switchboard finds out the way it would from a real network (refresh, publish or health check).
  const grantConfirmation = (session: ReturnType<typeof signedIn>, account: AccountRow, back: URLSearchParams, error?: string) =>
    confirmPage(session, {
      title: 'Make this grant die?',
      action: `${DASHBOARD}/accounts/${escapeHtml(account.id)}/sandbox-grant`,
      back,
      error,
      explain: `${accountFacts(account)}
<p>The sandbox revokes the grant this account was connected with, and every token issued under it, as a person does who removes your app in a network's settings. Every account connected through that same sandbox sign-in (a person and their pages) loses its grant too. Switchboard is not told: it finds out as it would from a real network, and the account becomes <strong>Needs reconnecting</strong> (<code>reauth_required</code>) with an <code>account.reauth_required</code> webhook.</p>`,
      extra: `<label><input type="checkbox" name="check_now" value="yes" checked> Check the account now (its health check), so that it shows the outcome at once</label>
<p class="hint">Leave unticked to see it happen on the next refresh or publish instead.</p>`,
      button: 'Make the grant die',
    });

  async function sandboxAccount(req: { params: { id: string } } & object) {
    const account = await findAccount(ctx.db, signedIn(req).orgId, req.params.id);
    return account && isSandboxAccount(account) ? account : undefined;
  }

  app.get<{ Params: { id: string }; Querystring: { back?: string } }>(`${DASHBOARD}/accounts/:id/sandbox-grant`, async (req, reply) => {
    const account = await sandboxAccount(req);
    if (!account) return notFound(req, reply);
    return sendDashboard(reply, 200, grantConfirmation(signedIn(req), account, backQuery(req.query.back)));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/accounts/:id/sandbox-grant`, async (req, reply) => {
    const session = signedIn(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const account = await sandboxAccount(req);
    if (!account) return notFound(req, reply);
    const back = backQuery(body.back);
    if (field.parse(body.confirm) !== 'yes') {
      return sendDashboard(reply, 400, grantConfirmation(session, account, back, 'Confirm first: the grant is still alive.'));
    }
    const died = await makeSandboxGrantDie(ctx, account, { checkNow: field.parse(body.check_now) === 'yes' });
    if (!died) {
      return sendDashboard(reply, 409, grantConfirmation(session, account, back, 'This account has no live tokens (it is disconnected or already needs reconnecting): there is no grant to kill.'));
    }
    const notice = !died.revoked ? 'grant-gone' : died.account.status === 'reauth_required' ? 'grant-died' : 'grant-revoked';
    back.set('notice', notice);
    return reply.redirect(`${DASHBOARD}/accounts?${back.toString()}`, 303);
  });

  // A fresh start URL for this account (same id, new tokens), to send to the person who owns it.
  app.post<{ Params: { id: string } }>(`${DASHBOARD}/accounts/:id/reconnect`, async (req, reply) => {
    const session = signedIn(req);
    const account = await findAccount(ctx.db, session.orgId, req.params.id);
    if (!account) return notFound(req, reply);
    const name = account.nickname ?? account.username ?? account.networkUniqueId;
    const config = await findNetworkConfig(ctx.db, session.orgId, account.network);
    const frame = { title: 'Reconnect link', section: 'accounts' as const, organizationName: session.organizationName, csrfToken: session.csrfToken };
    const back = `<p><a href="${DASHBOARD}/accounts">Back to the accounts</a></p>`;
    if (!config || !reconnectable(account)) {
      return sendDashboard(reply, 400, dashboardPage({ ...frame, error: `${name} cannot be reconnected with a link: its network is not configured or connects with an app password.` }, back));
    }
    const { authUrl, expiresAt } = createStartUrl(ctx, session.orgId, config, {
      selection: 'hosted',
      accountId: account.id,
      workspaceId: account.workspaceId ?? undefined,
      // It is sent on by chat or mail, whose previews open it: the person starts the flow with a button.
      startPage: true,
    });
    const body = `<section class="card">
<label for="reconnect-link">Reconnect link for ${escapeHtml(name)}</label>
<div class="copyable"><input id="reconnect-link" type="text" readonly value="${escapeHtml(authUrl)}" aria-describedby="reconnect-hint">${copyButton('reconnect-link', 'the reconnect link')}</div>
<p class="hint" id="reconnect-hint">Copy it and send it to the person who owns the account. It works once, until ${formatTime(expiresAt)}, and must be signed in with the same ${escapeHtml(account.network)} account; the account keeps its id and gets fresh tokens.</p>
</section>
${back}`;
    return sendDashboard(reply, 201, dashboardPage(frame, body));
  });
}
