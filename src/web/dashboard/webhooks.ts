// Webhooks: endpoints (the signing secret is shown once), edit, rotate the secret (the new one shown once), delete
// (after a confirmation step), a test event, the delivery log with payloads and responses, resend. Delivery itself
// is the worker's (webhooks/delivery.ts).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../context.ts';
import { urlProblem } from '../../security/private-urls.ts';
import {
  createEndpoint,
  deleteEndpoint,
  EndpointLimitReached,
  findEndpoint,
  listDeliveries,
  listEndpoints,
  resendDelivery,
  rotateEndpointSecret,
  sendTestEvent,
  updateEndpoint,
  type EndpointRow,
} from '../../webhooks/endpoints.ts';
import { EVENT_TYPES, type EventType } from '../../webhooks/events.ts';
import { escapeHtml } from '../pages.ts';
import { copyButton, csrfField, DASHBOARD, dashboardPage, formatTime, scrollingTable, sendDashboard } from './layout.ts';
import { field, listField } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const CreateForm = z.object({
  url: field.pipe(z.string().trim().min(1, 'is required').max(2048)),
  events: listField.pipe(z.array(z.enum(EVENT_TYPES)).max(20)),
  description: field.pipe(z.string().trim().max(500)),
});

const NOTICES: Record<string, string> = {
  saved: 'The endpoint was saved.',
  deleted: 'The endpoint was deleted with its delivery log.',
  test: 'A test event was queued: it appears in the log below and is sent within seconds.',
  resent: 'The event was queued again.',
};

/** The event checkboxes, `checked` ticked (none ticked: every event). */
const eventBoxes = (checked: readonly string[]) =>
  EVENT_TYPES.filter((t) => t !== 'webhook.test')
    .map((t) => `<label><input type="checkbox" name="events" value="${t}"${checked.includes(t) ? ' checked' : ''}> ${t}</label>`)
    .join('\n');

/** The create and edit form, checked the same way; the fields, or the problem in plain words. */
function checkEndpointForm(ctx: AppContext, body: unknown): { error: string } | { url: string; events: EventType[]; description: string } {
  const parsed = CreateForm.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { error: `${issue?.path[0] === 'events' ? 'Events' : issue?.path[0] === 'description' ? 'Description' : 'URL'}: ${issue?.message}.` };
  }
  const problem = urlProblem(parsed.data.url, ctx.config.allowPrivateUrls);
  if (problem) return { error: `URL ${problem}.` };
  return { ...parsed.data, events: parsed.data.events as EventType[] };
}

export function webhookPages(app: FastifyInstance, ctx: AppContext) {
  const frameOf = (session: SignedIn, title: string) => ({ title, section: 'webhooks' as const, organizationName: session.organizationName, csrfToken: session.csrfToken });
  const back = (id: string) => `<p><a href="${DASHBOARD}/webhooks/${escapeHtml(id)}">Back to the endpoint</a></p>`;

  /** This organization's endpoint named in the path, or a 404 page. */
  async function ownEndpoint(req: { params: { id: string } } & object, reply: FastifyReply): Promise<{ session: SignedIn; endpoint: EndpointRow } | undefined> {
    const session = signedIn(req);
    const endpoint = await findEndpoint(ctx, session.orgId, req.params.id);
    if (endpoint) return { session, endpoint };
    await sendDashboard(
      reply,
      404,
      dashboardPage({ ...frameOf(session, 'Endpoint not found'), error: 'There is no such webhook endpoint in this organization.' }, `<p><a href="${DASHBOARD}/webhooks">All endpoints</a></p>`),
    );
    return undefined;
  }

  function editPage(session: SignedIn, endpoint: EndpointRow, opts: { error?: string; form?: { url: string; events: string[]; description: string } } = {}) {
    const form = opts.form ?? { url: endpoint.url, events: endpoint.events, description: endpoint.description ?? '' };
    const id = escapeHtml(endpoint.id);
    const body = `<form method="post" action="${DASHBOARD}/webhooks/${id}/edit" class="card" aria-label="Edit the endpoint">
${csrfField(session.csrfToken)}
<label for="url">URL</label>
<input id="url" name="url" type="url" required maxlength="2048" value="${escapeHtml(form.url)}">
<fieldset><legend>Events <span class="muted">(none ticked: every event)</span></legend>
${eventBoxes(form.events)}
</fieldset>
<label for="description">Description</label>
<input id="description" name="description" type="text" maxlength="500" value="${escapeHtml(form.description)}">
<div class="actions"><button type="submit">Save changes</button><a href="${DASHBOARD}/webhooks/${id}">Cancel</a></div>
</form>`;
    return dashboardPage({ ...frameOf(session, 'Edit the endpoint'), error: opts.error }, body);
  }

  /** A confirmation step: what will happen, the button that posts it (`confirm=yes`), and a way back. */
  function confirmPage(session: SignedIn, endpoint: EndpointRow, opts: { title: string; action: string; explain: string; button: string; error?: string }) {
    const body = `<form method="post" action="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/${opts.action}" class="card">
${csrfField(session.csrfToken)}<input type="hidden" name="confirm" value="yes">
<p class="mono">${escapeHtml(endpoint.url)}</p>
${opts.explain}
<div class="actions"><button type="submit" class="danger">${escapeHtml(opts.button)}</button><a href="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}">Cancel</a></div>
</form>`;
    return dashboardPage({ ...frameOf(session, opts.title), error: opts.error }, body);
  }
  const rotateConfirmation = (session: SignedIn, endpoint: EndpointRow, error?: string) =>
    confirmPage(session, endpoint, {
      title: 'Rotate the signing secret?',
      action: 'rotate-secret',
      explain: '<p>A new secret is made and shown once. The current secret stops working at once: every delivery from then on, retries included, is signed with the new one, so update your receiver right after.</p>',
      button: 'Rotate the secret',
      error,
    });
  const deleteConfirmation = (session: SignedIn, endpoint: EndpointRow, error?: string) =>
    confirmPage(session, endpoint, {
      title: 'Delete this endpoint?',
      action: 'delete',
      explain: '<p>No more events are sent to it, pending deliveries included, and its delivery log is deleted. This cannot be undone.</p>',
      button: 'Delete the endpoint',
      error,
    });
  async function renderList(session: SignedIn, opts: { error?: string; notice?: string; created?: { id: string; url: string; secret: string } }) {
    const endpoints = await listEndpoints(ctx, session.orgId);
    const rows = endpoints
      .map(
        (e) => `<tr>
  <th scope="row"><a href="${DASHBOARD}/webhooks/${escapeHtml(e.id)}">${escapeHtml(e.url)}</a>${e.description ? `<br><span class="muted">${escapeHtml(e.description)}</span>` : ''}</th>
  <td data-label="Events">${escapeHtml(e.events.length ? e.events.join(', ') : 'Every event')}</td>
  <td data-label="State">${e.enabled ? 'Enabled' : `Disabled: ${escapeHtml(e.disabledReason ?? '')}`}</td>
  <td data-label="Created">${formatTime(e.createdAt)}</td>
</tr>`,
      )
      .join('\n');
    const created = opts.created
      ? `<section class="card" aria-labelledby="new-endpoint"><h2 id="new-endpoint">Endpoint created</h2>
<p>Its signing secret, to verify deliveries to ${escapeHtml(opts.created.url)}. Copy it now: it is shown only this once.</p>
<div class="copyable"><p class="secret" id="new-secret">${escapeHtml(opts.created.secret)}</p>${copyButton('new-secret', 'the signing secret')}</div>
<p><a href="${DASHBOARD}/webhooks/${escapeHtml(opts.created.id)}">Open the endpoint and send a test event</a></p></section>`
      : '';
    const events = eventBoxes([]);
    const body = `${created}
${
  endpoints.length
    ? scrollingTable(
        'Webhook endpoints',
        `<table class="cards"><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th><th scope="col">Created</th></tr></thead><tbody>${rows}</tbody></table>`,
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
    return dashboardPage({ ...frameOf(session, 'Webhooks'), error: opts.error, notice: opts.notice }, body);
  }

  app.get<{ Querystring: { notice?: string } }>(`${DASHBOARD}/webhooks`, async (req, reply) =>
    sendDashboard(reply, 200, await renderList(signedIn(req), { notice: NOTICES[String(req.query.notice ?? '')] })),
  );

  app.post(`${DASHBOARD}/webhooks`, async (req, reply) => {
    const session = signedIn(req);
    const checked = checkEndpointForm(ctx, req.body);
    if ('error' in checked) return sendDashboard(reply, 400, await renderList(session, { error: checked.error }));
    let created;
    try {
      created = await createEndpoint(ctx, session.orgId, checked);
    } catch (err) {
      if (err instanceof EndpointLimitReached) return sendDashboard(reply, 409, await renderList(session, { error: `${err.message}.` }));
      throw err;
    }
    const { row, secret } = created;
    return sendDashboard(reply, 201, await renderList(session, { created: { id: row.id, url: row.url, secret } }));
  });

  app.get<{ Params: { id: string }; Querystring: { notice?: string; cursor?: string } }>(`${DASHBOARD}/webhooks/:id`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (!found) return;
    const { session, endpoint } = found;
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
<dl class="facts">
<dt>URL</dt><dd class="mono">${escapeHtml(endpoint.url)}</dd>
<dt>Id</dt><dd><span class="mono" id="endpoint-id">${escapeHtml(endpoint.id)}</span>${copyButton('endpoint-id', 'the endpoint id')}</dd>
${endpoint.description ? `<dt>Description</dt><dd>${escapeHtml(endpoint.description)}</dd>` : ''}
<dt>Events</dt><dd>${escapeHtml(endpoint.events.length ? endpoint.events.join(', ') : 'every event')}</dd>
<dt>State</dt><dd>${endpoint.enabled ? 'Enabled' : `Disabled: ${escapeHtml(endpoint.disabledReason ?? '')}`}</dd>
</dl>
<div class="actions">
<form method="post" action="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/test">${csrfField(session.csrfToken)}<button type="submit">Send test event</button></form>
<a class="button secondary" href="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/edit">Edit</a>
<a class="button secondary" href="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/rotate-secret">Rotate signing secret…</a>
<a class="button danger" href="${DASHBOARD}/webhooks/${escapeHtml(endpoint.id)}/delete">Delete…</a>
</div>
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
      dashboardPage({ ...frameOf(session, 'Webhook endpoint'), notice: NOTICES[String(req.query.notice ?? '')] }, body),
    );
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/test`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (!found) return;
    const { endpoint } = found;
    await sendTestEvent(ctx, endpoint);
    return reply.redirect(`${DASHBOARD}/webhooks/${endpoint.id}?notice=test`, 303);
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/deliveries/:id/resend`, async (req, reply) => {
    const resent = await resendDelivery(ctx, signedIn(req).orgId, req.params.id);
    if (!resent) return reply.redirect(`${DASHBOARD}/webhooks`, 303);
    return reply.redirect(`${DASHBOARD}/webhooks/${resent.endpointId}?notice=resent`, 303);
  });

  app.get<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/edit`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (found) return sendDashboard(reply, 200, editPage(found.session, found.endpoint));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/edit`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (!found) return;
    const checked = checkEndpointForm(ctx, req.body);
    if ('error' in checked) {
      const raw = (req.body ?? {}) as Record<string, unknown>;
      const form = { url: field.parse(raw.url), events: listField.parse(raw.events), description: field.parse(raw.description) };
      return sendDashboard(reply, 400, editPage(found.session, found.endpoint, { error: checked.error, form }));
    }
    await updateEndpoint(ctx, found.session.orgId, found.endpoint.id, checked);
    return reply.redirect(`${DASHBOARD}/webhooks/${found.endpoint.id}?notice=saved`, 303);
  });

  app.get<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/rotate-secret`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (found) return sendDashboard(reply, 200, rotateConfirmation(found.session, found.endpoint));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/rotate-secret`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (!found) return;
    const { session, endpoint } = found;
    if (field.parse((req.body as Record<string, unknown> | undefined)?.confirm) !== 'yes') {
      return sendDashboard(reply, 400, rotateConfirmation(session, endpoint, 'Confirm first: the secret was not changed.'));
    }
    const rotated = await rotateEndpointSecret(ctx, session.orgId, endpoint.id);
    if (!rotated) return ownEndpoint(req, reply);
    req.log.info({ endpointId: endpoint.id }, 'webhook signing secret rotated from the dashboard');
    const body = `<section class="card" aria-labelledby="rotated">
<h2 id="rotated">New signing secret</h2>
<p>Deliveries to ${escapeHtml(endpoint.url)} are now signed with this secret. Copy it now: it is shown only this once.</p>
<div class="copyable"><p class="secret" id="new-secret">${escapeHtml(rotated.secret)}</p>${copyButton('new-secret', 'the signing secret')}</div>
</section>
${back(endpoint.id)}`;
    return sendDashboard(reply, 200, dashboardPage({ ...frameOf(session, 'Signing secret rotated'), notice: 'The signing secret was rotated: the old one no longer verifies.' }, body));
  });

  app.get<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/delete`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (found) return sendDashboard(reply, 200, deleteConfirmation(found.session, found.endpoint));
  });

  app.post<{ Params: { id: string } }>(`${DASHBOARD}/webhooks/:id/delete`, async (req, reply) => {
    const found = await ownEndpoint(req, reply);
    if (!found) return;
    if (field.parse((req.body as Record<string, unknown> | undefined)?.confirm) !== 'yes') {
      return sendDashboard(reply, 400, deleteConfirmation(found.session, found.endpoint, 'Confirm first: nothing was deleted yet.'));
    }
    await deleteEndpoint(ctx, found.session.orgId, found.endpoint.id);
    return reply.redirect(`${DASHBOARD}/webhooks?notice=deleted`, 303);
  });
}
