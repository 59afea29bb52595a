// Hosted pages the organization's end users see: selection, connected, error. They carry the organization's
// name (never ours), work without JavaScript, and are served with a strict CSP and no referrer. The one script
// is the popup's end page's (popupResultPage), allowed by its hash and by nothing else.
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface Branding {
  organizationName: string;
  logoUrl?: string | null;
  /** `#rrggbb`, the button colour. */
  accentColor?: string | null;
  supportUrl?: string | null;
}

const DEFAULT_ACCENT = '#1f4fd1';
const DARK_TEXT = '#16181d';

/** WCAG relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);

/** Button text for an accent colour: white or near-black, whichever reads better on it. */
export function textColorOn(accent: string): string {
  const l = luminance(accent);
  return contrast(l, 1) >= contrast(l, luminance(DARK_TEXT)) ? '#ffffff' : DARK_TEXT;
}

/** Origins the page's images may come from beyond `https:` (a logo on http, allowed in development). */
export function imageOrigins(branding: Branding): string[] {
  if (!branding.logoUrl) return [];
  try {
    return [new URL(branding.logoUrl).origin];
  } catch {
    return [];
  }
}

function brandHeader(branding: Branding): string {
  const org = escapeHtml(branding.organizationName);
  if (branding.logoUrl) return `<p class="org"><img class="logo" src="${escapeHtml(branding.logoUrl)}" alt="${org}"></p>`;
  return org ? `<p class="org">${org}</p>` : '';
}

function supportFooter(branding: Branding): string {
  if (!branding.supportUrl) return '';
  const name = branding.organizationName ? `${escapeHtml(branding.organizationName)} ` : '';
  return `<footer class="support"><a href="${escapeHtml(branding.supportUrl)}" rel="noreferrer">Need help? Contact ${name}support</a></footer>`;
}

function layout(branding: Branding, title: string, body: string): string {
  const org = escapeHtml(branding.organizationName);
  const accent = branding.accentColor && /^#[0-9a-fA-F]{6}$/.test(branding.accentColor) ? branding.accentColor.toLowerCase() : DEFAULT_ACCENT;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}${org ? ` · ${org}` : ''}</title>
<style>
  :root { color-scheme: light; --accent: ${accent}; --on-accent: ${textColorOn(accent)}; }
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7; color: #16181d; }
  main { max-width: 32rem; margin: 3rem auto; background: #fff; border-radius: 12px; padding: 2rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.35rem; margin: 0 0 1rem; }
  .org { color: #4a4f5c; font-size: .9rem; margin: 0 0 1.5rem; }
  .org .logo { max-height: 48px; max-width: 12rem; width: auto; height: auto; border-radius: 0; }
  a { color: #1a44b8; }
  a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
  .support { margin-top: 2rem; padding-top: 1rem; border-top: 1px solid #e3e5ea; font-size: .9rem; }
  ul { list-style: none; padding: 0; margin: 0 0 1.5rem; }
  li { border: 1px solid #d9dce3; border-radius: 8px; margin-bottom: .5rem; }
  li label { display: flex; gap: .75rem; align-items: center; padding: .75rem; cursor: pointer; }
  li img { width: 40px; height: 40px; border-radius: 50%; }
  input[type=checkbox] { width: 1.25rem; height: 1.25rem; }
  button { background: var(--accent); color: var(--on-accent); border: 0; border-radius: 8px; padding: .75rem 1.5rem; font-size: 1rem; cursor: pointer; }
  button:focus-visible, input:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
  .error { color: #a4161a; }
  .muted { color: #4a4f5c; font-size: .9rem; }
  @media (max-width: 36rem) { main { margin: 0; border-radius: 0; min-height: 100vh; } }
</style>
</head>
<body>
<main>
${brandHeader(branding)}
${body}
${supportFooter(branding)}
</main>
</body>
</html>`;
}

/**
 * Sends a hosted page. `formTargets` are the origins a form on the page may submit to or be redirected to
 * (CSP `form-action` also governs the redirect after a form post). `scriptHashes` are CSP hashes of the page's
 * inline scripts; without them the page runs no script at all (`default-src 'none'`).
 */
export function sendPage(reply: FastifyReply, status: number, html: string, formTargets: string[] = [], imageSources: string[] = [], scriptHashes: string[] = []) {
  const formAction = ["'self'", ...formTargets].join(' ');
  const imgSrc = ['https:', 'data:', "'self'", ...imageSources].join(' ');
  const scriptSrc = scriptHashes.length ? `; script-src ${scriptHashes.map((h) => `'${h}'`).join(' ')}` : '';
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'unsafe-inline'; img-src ${imgSrc}; form-action ${formAction}; base-uri 'none'; frame-ancestors 'none'${scriptSrc}`,
    )
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .send(html);
}

export interface SelectableProfile {
  id: string;
  name: string;
  username: string | null;
  type: string;
  pictureUrl: string | null;
}

export function selectionPage(
  branding: Branding,
  input: { networkName: string; session: string; profiles: SelectableProfile[]; error?: string },
): string {
  const items = input.profiles
    .map((p, i) => {
      const detail = [p.username ? `@${p.username}` : '', p.type].filter(Boolean).join(' · ');
      return `<li><label for="profile-${i}">
  <input type="checkbox" id="profile-${i}" name="selected" value="${escapeHtml(p.id)}">
  ${p.pictureUrl ? `<img src="${escapeHtml(p.pictureUrl)}" alt="">` : ''}
  <span><span class="name">${escapeHtml(p.name)}</span><br><span class="muted">${escapeHtml(detail)}</span></span>
</label></li>`;
    })
    .join('\n');
  return layout(
    branding,
    `Choose ${input.networkName} profiles`,
    `<h1>Choose the ${escapeHtml(input.networkName)} profiles to connect</h1>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ''}
<form method="post" action="/connect/select">
  <input type="hidden" name="session" value="${escapeHtml(input.session)}">
  <fieldset style="border:0;padding:0;margin:0">
    <legend class="muted" style="margin-bottom:.75rem">Tick every profile you want to connect.</legend>
    <ul>
${items}
    </ul>
  </fieldset>
  <button type="submit">Connect</button>
</form>`,
  );
}

export function connectedPage(branding: Branding, input: { networkName: string; accounts: Array<{ name: string }> }): string {
  const names = input.accounts.map((a) => `<li style="padding:.75rem">${escapeHtml(a.name)}</li>`).join('');
  return layout(
    branding,
    'Connected',
    `<h1>${escapeHtml(input.networkName)} connected</h1>
<p>These profiles are now connected:</p>
<ul>${names}</ul>
<p class="muted">You can close this window.</p>`,
  );
}

/** The page a forwarded start link opens: nothing happens until the person presses the button. */
export function continuePage(branding: Branding, input: { networkName: string; action: string }): string {
  const org = branding.organizationName ? escapeHtml(branding.organizationName) : 'This app';
  return layout(
    branding,
    `Continue to ${input.networkName}`,
    `<h1>Connect your ${escapeHtml(input.networkName)} account</h1>
<p>${org} asks you to sign in to ${escapeHtml(input.networkName)} and allow access. Nothing is shared until you do.</p>
<form method="post" action="${escapeHtml(input.action)}">
  <button type="submit">Continue to ${escapeHtml(input.networkName)}</button>
</form>
<p class="muted">This link works once.</p>`,
  );
}

export function errorPage(branding: Branding, input: { title: string; description: string }): string {
  return layout(
    branding,
    input.title,
    `<h1>${escapeHtml(input.title)}</h1>
<p role="alert">${escapeHtml(input.description)}</p>
<p class="muted">Go back to the app you came from and start the connection again. If it keeps failing, contact ${
      branding.supportUrl ? 'support with the link below' : `${escapeHtml(branding.organizationName) || 'its'} support`
    }.</p>`,
  );
}

/**
 * What a flow run in a popup tells the page that opened it (clients/typescript/src/connect.ts checks this shape).
 * Nothing secret: ids, network, username and tenant only — never a token or a selection session.
 */
export interface PopupResult {
  status: 'success' | 'error';
  network: string;
  accounts: Array<{ id: string; network: string; username: string | null }>;
  tenant_id: string | null;
  error?: string;
  error_description?: string;
}

export const POPUP_MESSAGE_TYPE = 'switchboard:connect-result';

// The page's one script, the same bytes on every page (the result is a JSON data block beside it, which is not
// run), so its CSP hash is computed once. It posts to the one origin the page names — the flow's redirect_uri's,
// which the organization allowed — and the browser drops the message when the opener is on any other origin.
// Without an opener (the popup was opened some other way, or a network's sign-in page cut it off with COOP),
// it goes on to the redirect_uri as a flow outside a popup would.
const POPUP_SCRIPT = `(function () {
  var data = document.getElementById('sb-result');
  var result = JSON.parse(data.textContent);
  var opener = window.opener;
  if (opener && !opener.closed) {
    opener.postMessage({ type: '${POPUP_MESSAGE_TYPE}', result: result }, data.getAttribute('data-origin'));
    setTimeout(function () { window.close(); }, 500);
  } else {
    location.replace(data.getAttribute('data-fallback'));
  }
})();`;

export const POPUP_SCRIPT_HASH = `sha256-${createHash('sha256').update(POPUP_SCRIPT).digest('base64')}`;

/** JSON inside a <script> element: `<` escaped so no value can close the element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/**
 * The end of a flow run in a popup: posts `result` to the opener at `origin` and closes. Without JavaScript, or
 * without an opener, the link (and the script) go on to `fallbackUrl`, the redirect the flow makes outside a popup.
 */
export function popupResultPage(branding: Branding, input: { networkName: string; result: PopupResult; origin: string; fallbackUrl: string }): string {
  const ok = input.result.status === 'success';
  const title = ok ? `${input.networkName} connected` : input.result.error === 'access_denied' ? 'Connection cancelled' : 'The connection could not be completed';
  return layout(
    branding,
    title,
    `<h1>${escapeHtml(title)}</h1>
${ok ? '' : `<p role="alert">${escapeHtml(input.result.error_description ?? '')}</p>`}
<p class="muted">You can close this window, or <a href="${escapeHtml(input.fallbackUrl)}">continue</a>.</p>
<script type="application/json" id="sb-result" data-origin="${escapeHtml(input.origin)}" data-fallback="${escapeHtml(input.fallbackUrl)}">${scriptJson(input.result)}</script>
<script>${POPUP_SCRIPT}</script>`,
  );
}
