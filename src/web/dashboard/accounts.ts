// Accounts: filter by tenant, network and status; token expiry and the last refresh error; disconnect. Paged
// on the server with the same keyset cursor as the API, so the 2,000th page costs what the first does.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { findAccount, listAccounts, type AccountRow, type ListedAccount } from '../../accounts/accounts.ts';
import { disconnectAccount } from '../../accounts/disconnect.ts';
import { createStartUrl } from '../../connect/flows.ts';
import { findNetworkConfig } from '../../networks/network-configs.ts';
import { TENANT_ID } from '../../http/schemas.ts';
import type { NetworkId } from '../../providers/types.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
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

const NOTICES: Record<string, string> = { disconnected: 'The account was disconnected: its tokens are deleted and it was revoked at the network where possible.' };

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
    const rows = error
      ? []
      : await listAccounts(
          ctx.db,
          session.orgId,
          { tenantId: filters.tenant || undefined, network: filters.network || undefined, status: filters.status || undefined },
          { limit: PAGE_SIZE + 1, offset: 0, cursor: filters.cursor || undefined },
        );
    const more = rows.length > PAGE_SIZE;
    const shown = rows.slice(0, PAGE_SIZE);
    const networkName = (id: string) => ctx.adapters.get(id as NetworkId)?.displayName ?? id;
    const networkOptions = ctx.adapters
      .supported()
      .map((id) => `<option value="${id}"${filters.network === id ? ' selected' : ''}>${escapeHtml(networkName(id))}</option>`)
      .join('');
    const statusOptions = STATUSES.map((s) => `<option value="${s}"${filters.status === s ? ' selected' : ''}>${STATUS_LABELS[s]}</option>`).join('');
    const back = query({ ...filters });
    const tableRows = shown
      .map((a) => {
        const name = a.nickname ?? a.username ?? a.networkUniqueId;
        return `<tr>
  <th scope="row">${escapeHtml(name)}${a.username ? `<br><span class="muted">@${escapeHtml(a.username)}</span>` : ''}<br><span class="muted mono">${escapeHtml(a.id)}</span></th>
  <td>${escapeHtml(networkName(a.network))}</td>
  <td>${escapeHtml(a.tenantId ?? '—')}</td>
  <td><span class="status-${a.status}">${STATUS_LABELS[a.status]}</span></td>
  <td>${formatTime(a.tokenExpiresAt)}</td>
  <td>${formatTime(a.lastRefreshedAt)}</td>
  <td>${a.lastError ? escapeHtml(a.lastError) : '<span class="muted">None</span>'}</td>
  <td><div class="actions">${
    reconnectable(a)
      ? `<form method="post" action="${DASHBOARD}/accounts/${escapeHtml(a.id)}/reconnect" class="inline">${csrfField(session.csrfToken)}<button type="submit" class="secondary" aria-label="Reconnect link for ${escapeHtml(name)}">Reconnect link</button></form>`
      : ''
  }${
    a.status === 'disconnected'
      ? ''
      : `<form method="post" action="${DASHBOARD}/accounts/${escapeHtml(a.id)}/disconnect" class="inline">${csrfField(session.csrfToken)}<input type="hidden" name="back" value="${escapeHtml(back)}"><button type="submit" class="danger" aria-label="Disconnect ${escapeHtml(name)}">Disconnect</button></form>`
  }</div></td>
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
${
  shown.length
    ? scrollingTable(
        'Accounts',
        `<table><thead><tr><th scope="col">Account</th><th scope="col">Network</th><th scope="col">Tenant</th><th scope="col">Status</th><th scope="col">Token expires</th><th scope="col">Last refresh</th><th scope="col">Last refresh error</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
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

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/accounts/:id/disconnect`, async (req, reply) => {
    const { orgId } = signedIn(req);
    const account = await findAccount(ctx.db, orgId, req.params.id);
    if (account) await disconnectAccount(ctx, account, { reason: 'Disconnected from the dashboard', log: req.log });
    // Back to the same filtered page (only our own query string, never an arbitrary URL).
    const back = new URLSearchParams(String((req.body as Record<string, unknown> | undefined)?.back ?? '').replace(/^\?/, ''));
    if (account) back.set('notice', 'disconnected');
    return reply.redirect(`${DASHBOARD}/accounts?${back.toString()}`, 303);
  });

  // A fresh start URL for this account (same id, new tokens), to send to the person who owns it.
  app.post<{ Params: { id: string } }>(`${DASHBOARD}/accounts/:id/reconnect`, async (req, reply) => {
    const session = signedIn(req);
    const account = await findAccount(ctx.db, session.orgId, req.params.id);
    if (!account) return reply.redirect(`${DASHBOARD}/accounts`, 303);
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
<input id="reconnect-link" type="text" readonly value="${escapeHtml(authUrl)}" aria-describedby="reconnect-hint">
<p class="hint" id="reconnect-hint">Copy it and send it to the person who owns the account. It works once, until ${formatTime(expiresAt)}, and must be signed in with the same ${escapeHtml(account.network)} account; the account keeps its id and gets fresh tokens.</p>
</section>
${back}`;
    return sendDashboard(reply, 201, dashboardPage(frame, body));
  });
}
