// Webhooks: endpoints (the signing secret is shown once), a test event, the delivery log with payloads and
// responses, resend. Delivery itself is the worker's (webhooks/delivery.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { urlProblem } from '../../security/private-urls.ts';
import { createEndpoint, EndpointLimitReached, findEndpoint, listDeliveries, listEndpoints, resendDelivery, sendTestEvent } from '../../webhooks/endpoints.ts';
import { EVENT_TYPES, type EventType } from '../../webhooks/events.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
import { field, listField } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const CreateForm = z.object({
  url: field.pipe(z.string().trim().min(1, 'is required').max(2048)),
  events: listField.pipe(z.array(z.enum(EVENT_TYPES)).max(20)),
  description: field.pipe(z.string().trim().max(500)),
});

const NOTICES: Record<string, string> = {
  test: 'A test event was queued: it appears in the log below and is sent within seconds.',
  resent: 'The event was queued again.',
};

export function webhookPages(app: FastifyInstance, ctx: AppContext) {
  async function renderList(session: SignedIn, opts: { error?: string; created?: { id: string; url: string; secret: string } }) {
    const endpoints = await listEndpoints(ctx, session.orgId);
    const rows = endpoints
      .map(
        (e) => `<tr>
  <th scope="row"><a href="${DASHBOARD}/webhooks/${escapeHtml(e.id)}">${escapeHtml(e.url)}</a>${e.description ? `<br><span class="muted">${escapeHtml(e.description)}</span>` : ''}</th>
  <td>${escapeHtml(e.events.length ? e.events.join(', ') : 'Every event')}</td>
  <td>${e.enabled ? 'Enabled' : `Disabled: ${escapeHtml(e.disabledReason ?? '')}`}</td>
  <td>${formatTime(e.createdAt)}</td>
</tr>`,
      )
      .join('\n');
    const created = opts.created
      ? `<section class="card" aria-labelledby="new-endpoint"><h2 id="new-endpoint">Endpoint created</h2>
<p>Its signing secret, to verify deliveries to ${escapeHtml(opts.created.url)}. Copy it now: it is shown only this once.</p>
<p class="secret">${escapeHtml(opts.created.secret)}</p>
<p><a href="${DASHBOARD}/webhooks/${escapeHtml(opts.created.id)}">Open the endpoint and send a test event</a></p></section>`
      : '';
    const events = EVENT_TYPES.filter((t) => t !== 'webhook.test')
      .map((t) => `<label><input type="checkbox" name="events" value="${t}"> ${t}</label>`)
      .join('\n');
    const body = `${created}
${
  endpoints.length
    ? scrollingTable(
        'Webhook endpoints',
        `<table><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th><th scope="col">Created</th></tr></thead><tbody>${rows}</tbody></table>`,
      )
    : '<p class="card">No endpoints yet.</p>'
}
<h2 id="create">Add an endpoint</h2>
<form method="post" action="${DASHBOARD}/webhooks" class="card" aria-labelledby="create">
${csrfField(session.csrfToken)}
<label for="url">URL</label>
<input id="url" name="url" type="url" required maxlength="2048" aria-describedby="url_hint">
<p class="hint" id="url_hint">Deliveries are POSTed here, signed the Standard Webhooks way.</p>
<fieldset><legend>Events <span class="muted">(none ticked: every event)</span></legend>
${events}
</fieldset>
<label for="description">Description</label>
<input id="description" name="description" type="text" maxlength="500">
<div class="actions"><button type="submit">Add endpoint</button></div>
</form>`;
    return dashboardPage({ title: 'Webhooks', section: 'webhooks', organizationName: session.organizationName, csrfToken: session.csrfToken, error: opts.error }, body);
  }

  app.get(`${DASHBOARD}/webhooks`, async (req, reply) => sendDashboard(reply, 200, await renderList(signedIn(req), {})));

  app.post(`${DASHBOARD}/webhooks`, async (req, reply) => {
    const session = signedIn(req);
    const parsed = CreateForm.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return sendDashboard(reply, 400, await renderList(session, { error: `${issue?.path[0] === 'events' ? 'Events' : 'URL'}: ${issue?.message}.` }));
    }
    const problem = urlProblem(parsed.data.url, ctx.config.allowPrivateUrls);
    if (problem) return sendDashboard(reply, 400, await renderList(session, { error: `URL ${problem}.` }));
    let created;
    try {
      created = await createEndpoint(ctx, session.orgId, { ...parsed.data, events: parsed.data.events as EventType[] });
    } catch (err) {
      if (err instanceof EndpointLimitReached) return sendDashboard(reply, 409, await renderList(session, { error: `${err.message}.` }));
      throw err;
    }
    const { row, secret } = created;
    return sendDashboard(reply, 201, await renderList(session, { created: { id: row.id, url: row.url, secret } }));
  });

  app.get<{ Params: { id: string }; Querystring: { notice?: string; cursor?: string } }>(`${DASHBOARD}/webhooks/:id`, async (req, reply) => {
    const session = signedIn(req);
    const endpoint = await findEndpoint(ctx, session.orgId, req.params.id);
    if (!endpoint) return reply.redirect(`${DASHBOARD}/webhooks`, 303);
    const cursor = typeof req.query.cursor === 'string' && req.query.cursor.length <= 64 ? req.query.cursor : undefined;
    const limit = 25;
    const deliveries = await listDeliveries(ctx, endpoint.id, { limit, cursor });
    const rows = deliveries
      .map(
        (d) => `<tr>
  <td>${formatTime(d.created_at)}</td>
  <th scope="row">${escapeHtml(d.event_type)}</th>
  <td><span class="status-${d.status}">${d.status === 'delivered' ? 'Delivered' : d.status === 'failed' ? 'Failed' : 'Pending'}</span>${d.next_attempt_at ? `<br><span class="muted">next try ${formatTime(d.next_attempt_at)}</span>` : ''}</td>
  <td>${d.attempts}</td>
  <td>${d.last_status_code ?? '—'}</td>
  <td><details><summary>Payload and response</summary>
<h3 class="muted">Payload</h3><pre>${escapeHtml(JSON.stringify(d.payload, null, 2))}</pre>
<h3 class="muted">Response</h3><pre>${escapeHtml(d.last_response ?? '(none yet)')}</pre></details></td>
  <td>${
    d.status === 'pending'
      ? ''
      : `<form method="post" action="${DASHBOARD}/webhooks/deliveries/${escapeHtml(d.id)}/resend" class="inline">${csrfField(session.csrfToken)}<button type="submit" class="secondary">Resend</button></form>`
  }</td>
</tr>`,
      )
      .join('\n');
    const body = `<p><a href="${DASHBOARD}/webhooks">All endpoints</a></p>
<section class="card" aria-label="Endpoint">
<p class="mono">${escapeHtml(endpoint.url)}</p>
<p>Events: ${escapeHtml(endpoint.events.length ? endpoint.events.join(', ') : 'every event')} · ${endpoint.enabled ? 'Enabled' : `Disabled: ${escapeHtml(endpoint.disabledReason ?? '')}`}</p>
<form method="post" action="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/test" class="actions">${csrfField(session.csrfToken)}<button type="submit">Send test event</button></form>
</section>
<h2 id="log">Delivery log</h2>
${
  deliveries.length
    ? scrollingTable(
        'Delivery log',
        `<table><thead><tr><th scope="col">Created</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">HTTP status</th><th scope="col">Details</th><th scope="col"><span class="muted">Actions</span></th></tr></thead><tbody>${rows}</tbody></table>`,
      )
    : '<p class="card">No deliveries yet.</p>'
}
${deliveries.length === limit ? `<p><a href="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}?cursor=${escapeHtml(deliveries[deliveries.length - 1].id)}" rel="next">Older deliveries</a></p>` : ''}`;
    return sendDashboard(
      reply,
      200,
      dashboardPage(
        { title: 'Webhook endpoint', section: 'webhooks', organizationName: session.organizationName, csrfToken: session.csrfToken, notice: NOTICES[String(req.query.notice ?? '')] },
        body,
      ),
    );
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/test`, async (req, reply) => {
    const endpoint = await findEndpoint(ctx, signedIn(req).orgId, req.params.id);
    if (!endpoint) return reply.redirect(`${DASHBOARD}/webhooks`, 303);
    await sendTestEvent(ctx, endpoint);
    return reply.redirect(`${DASHBOARD}/webhooks/${endpoint.id}?notice=test`, 303);
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/deliveries/:id/resend`, async (req, reply) => {
    const resent = await resendDelivery(ctx, signedIn(req).orgId, req.params.id);
    if (!resent) return reply.redirect(`${DASHBOARD}/webhooks`, 303);
    return reply.redirect(`${DASHBOARD}/webhooks/${resent.endpointId}?notice=resent`, 303);
  });
}
