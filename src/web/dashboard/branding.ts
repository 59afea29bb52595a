// Branding: the name, logo, accent colour and support link on every hosted page (selection, connected, error).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.ts';
import { brandingInput, getBranding, saveBranding, type BrandingView } from '../../orgs/branding.ts';
import { escapeHtml } from '../pages.ts';
import { csrfField, DASHBOARD, dashboardPage, sendDashboard } from './layout.ts';
import { firstProblem } from './forms.ts';
import { signedIn, type SignedIn } from './sessions.ts';

const LABELS = { name: 'Organization name', logo_url: 'Logo URL', accent_color: 'Accent colour', support_url: 'Support link' };

export function brandingPages(app: FastifyInstance, ctx: AppContext) {
  const input = brandingInput(ctx.config.allowPrivateUrls);

  function render(session: SignedIn, values: BrandingView, opts: { notice?: string; error?: string } = {}) {
    const value = (v: string | null) => escapeHtml(v ?? '');
    const body = `<p>Your users see these on every hosted page: the profile selection, the "connected" page and error pages. Switchboard's name never appears.</p>
<form method="post" action="${DASHBOARD}/branding" class="card">
${csrfField(session.csrfToken)}
<label for="name">Organization name</label>
<input id="name" name="name" type="text" required maxlength="200" value="${value(values.name)}">
<label for="logo_url">Logo URL</label>
<input id="logo_url" name="logo_url" type="url" value="${value(values.logo_url)}" aria-describedby="logo_hint">
<p class="hint" id="logo_hint">An https image, shown at most 48 pixels high. Leave empty to show the name instead.</p>
<label for="accent_color">Accent colour</label>
<input id="accent_color" name="accent_color" type="text" pattern="#[0-9a-fA-F]{6}" value="${value(values.accent_color)}" aria-describedby="accent_hint">
<p class="hint" id="accent_hint">The button colour, like #1f4fd1. The button text is white or black, whichever reads better on it.</p>
<label for="support_url">Support link</label>
<input id="support_url" name="support_url" type="url" value="${value(values.support_url)}" aria-describedby="support_hint">
<p class="hint" id="support_hint">Shown as “Need help? Contact ${escapeHtml(values.name)} support”. Leave empty for none.</p>
<div class="actions"><button type="submit">Save branding</button></div>
</form>`;
    return dashboardPage({ title: 'Branding', section: 'branding', organizationName: session.organizationName, csrfToken: session.csrfToken, ...opts }, body);
  }

  app.get<{ Querystring: { notice?: string } }>(`${DASHBOARD}/branding`, async (req, reply) => {
    const session = signedIn(req);
    const values = (await getBranding(ctx.db, session.orgId))!;
    const notice = req.query.notice === 'saved' ? 'The branding was saved: hosted pages show it from now on.' : undefined;
    return sendDashboard(reply, 200, render(session, values, { notice }));
  });

  app.post(`${DASHBOARD}/branding`, async (req, reply) => {
    const session = signedIn(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const one = (k: string) => (Array.isArray(body[k]) ? body[k][0] : body[k]) ?? '';
    const submitted = { name: String(one('name')), logo_url: String(one('logo_url')), accent_color: String(one('accent_color')), support_url: String(one('support_url')) };
    const parsed = input.safeParse(submitted);
    if (!parsed.success) {
      return sendDashboard(reply, 400, render(session, { ...submitted }, { error: firstProblem(parsed.error, LABELS) }));
    }
    await saveBranding(ctx.db, session.orgId, parsed.data);
    return reply.redirect(`${DASHBOARD}/branding?notice=saved`, 303);
  });
}
