// The dashboard's page frame: skip link, navigation with aria-current, one stylesheet from our own origin (so the
// CSP needs no inline styles), one small copy script allowed by its hash, and the headers every dashboard page gets.
import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { escapeHtml } from '../pages.ts';

export const DASHBOARD = '/dashboard';
export const STYLESHEET = `${DASHBOARD}/assets/dashboard.css`;

const SECTIONS = [
  ['networks', 'Networks'],
  ['accounts', 'Accounts'],
  ['posts', 'Posts'],
  ['webhooks', 'Webhooks'],
  ['api-keys', 'API keys'],
  ['branding', 'Branding'],
] as const;

export type Section = (typeof SECTIONS)[number][0];

export interface PageFrame {
  title: string;
  /** The section the page belongs to (highlighted in the navigation); none on the sign-in page. */
  section?: Section;
  organizationName?: string;
  csrfToken?: string;
  /** A result to announce at the top of the page. */
  notice?: string;
  error?: string;
}

/** A hidden field with the session's CSRF token: every POST form of the dashboard carries one. */
export const csrfField = (token: string) => `<input type="hidden" name="_csrf" value="${escapeHtml(token)}">`;

/**
 * The dashboard's one script: shows the copy buttons and copies their value. Inline, and allowed by its hash in the
 * CSP (nothing else may run); without it the buttons stay hidden and the values can be selected by hand.
 */
export const COPY_SCRIPT = `for (const b of document.querySelectorAll('button[data-copy]')) {
  b.hidden = false;
  b.addEventListener('click', async () => {
    const el = document.getElementById(b.dataset.copy);
    const said = b.nextElementSibling;
    try {
      await navigator.clipboard.writeText('value' in el ? el.value : el.textContent);
      said.textContent = 'Copied';
    } catch {
      said.textContent = 'Could not copy: select the text and copy it';
    }
  });
}`;
const COPY_SCRIPT_HASH = `'sha256-${createHash('sha256').update(COPY_SCRIPT).digest('base64')}'`;

/** A copy button for the text of the element `targetId` (an input's value, or an element's text). */
export const copyButton = (targetId: string, what: string) =>
  `<button type="button" class="secondary copy" data-copy="${escapeHtml(targetId)}" hidden>Copy<span class="visually-hidden"> ${escapeHtml(what)}</span></button><span class="copied" aria-live="polite"></span>`;

export function dashboardPage(frame: PageFrame, body: string): string {
  const nav = frame.section
    ? `<nav aria-label="Dashboard"><ul>${SECTIONS.map(
        ([id, label]) => `<li><a href="${DASHBOARD}/${id}"${id === frame.section ? ' aria-current="page"' : ''}>${label}</a></li>`,
      ).join('')}</ul></nav>`
    : '';
  const signOut = frame.csrfToken
    ? `<form method="post" action="${DASHBOARD}/logout" class="signout">${csrfField(frame.csrfToken)}<button type="submit" class="secondary">Sign out</button></form>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(frame.title)} · Dashboard</title>
<link rel="stylesheet" href="${STYLESHEET}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<p class="brand">${escapeHtml(frame.organizationName ?? 'Dashboard')}</p>
${nav}
${signOut}
</header>
<main id="main" tabindex="-1">
<h1>${escapeHtml(frame.title)}</h1>
${frame.notice ? `<p class="notice" role="status">${escapeHtml(frame.notice)}</p>` : ''}
${frame.error ? `<p class="problem" role="alert">${escapeHtml(frame.error)}</p>` : ''}
${body}
</main>
<script>${COPY_SCRIPT}</script>
</body>
</html>`;
}

export function sendDashboard(reply: FastifyReply, status: number, html: string) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; script-src ${COPY_SCRIPT_HASH}; style-src 'self'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    )
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .send(html);
}

export function formatTime(value: Date | string | null | undefined): string {
  if (!value) return '—';
  const date = typeof value === 'string' ? new Date(value) : value;
  return `<time datetime="${date.toISOString()}">${date.toISOString().replace('T', ' ').slice(0, 16)} UTC</time>`;
}

/** Wide tables scroll on their own on a phone, and can be scrolled with the keyboard. */
export const scrollingTable = (label: string, table: string) =>
  `<div class="table-wrap" role="region" aria-label="${escapeHtml(label)}" tabindex="0">${table}</div>`;

// Contrast: text #16181d on #fff (17:1), muted #4a4f5c (8:1), links #1a44b8 (8:1), buttons white on #1f4fd1 (6.6:1).
export const STYLES = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f4f5f7; color: #16181d; }
a { color: #1a44b8; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible, .table-wrap:focus-visible, main:focus-visible {
  outline: 3px solid #ffbf47; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: .5rem 1rem; z-index: 1; }
.skip:focus { left: .5rem; top: .5rem; }
header { background: #16181d; color: #fff; padding: .75rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
header .brand { margin: 0; font-weight: 600; }
header nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem; }
header nav a { color: #fff; text-decoration: none; padding: .5rem .75rem; border-radius: 6px; display: inline-block; }
header nav a[aria-current="page"] { background: #fff; color: #16181d; }
header nav a:hover { text-decoration: underline; }
header .signout { margin-left: auto; }
header .signout button { background: transparent; color: #fff; border: 1px solid #fff; }
main { max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .75rem; }
h3 { font-size: .95rem; margin: .75rem 0 .25rem; }
section.card, form.card { background: #fff; border-radius: 10px; padding: 1.25rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); margin-bottom: 1.25rem; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
.hint { color: #4a4f5c; font-size: .9rem; font-weight: normal; margin: .25rem 0 0; }
input[type=text], input[type=password], input[type=url], input:not([type]), select, textarea {
  width: 100%; max-width: 36rem; font: inherit; padding: .5rem .6rem; border: 1px solid #767b88; border-radius: 6px; background: #fff; color: #16181d; }
input[type=color] { width: 4rem; height: 2.5rem; padding: 0; border: 1px solid #767b88; border-radius: 6px; }
textarea { min-height: 5rem; }
fieldset { border: 1px solid #d9dce3; border-radius: 8px; margin: .75rem 0; max-width: 36rem; }
fieldset label { display: inline-flex; gap: .4rem; font-weight: normal; margin: .25rem 1rem .25rem 0; }
button, .button { font: inherit; background: #1f4fd1; color: #fff; border: 0; border-radius: 6px; padding: .55rem 1.1rem; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: #1a44b8; border: 1px solid #1a44b8; }
button.danger, .button.danger { background: #a4161a; }
.actions.stacked button, .actions.stacked .button { width: 100%; text-align: center; }
.actions { margin-top: 1rem; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.inline { display: inline; }
.notice { background: #e6f4ea; border: 1px solid #137333; color: #0d5224; padding: .75rem 1rem; border-radius: 8px; }
.problem { background: #fdecea; border: 1px solid #a4161a; color: #7a1014; padding: .75rem 1rem; border-radius: 8px; }
.secret { font-family: ui-monospace, monospace; background: #fff8e1; border: 1px solid #8a6d00; padding: .75rem; border-radius: 8px; word-break: break-all; }
code, .mono { font-family: ui-monospace, monospace; font-size: .9rem; word-break: break-all; }
.muted { color: #4a4f5c; }
.table-wrap { overflow-x: auto; background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .6rem .75rem; border-bottom: 1px solid #e3e5ea; vertical-align: top; }
th { font-size: .85rem; color: #4a4f5c; white-space: nowrap; }
.status-active, .status-delivered { color: #0d5224; font-weight: 600; }
.status-reauth_required, .status-failed, .status-disconnected { color: #7a1014; font-weight: 600; }
.filters { display: flex; flex-wrap: wrap; gap: 0 1rem; align-items: flex-end; }
.filters > div { flex: 1 1 12rem; }
.filters button { margin-top: .75rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 16rem; background: #f4f5f7; padding: .75rem; border-radius: 6px; max-height: 20rem; overflow: auto; }
/* Posts and compose */
.status-published, .status-scheduled { color: #0d5224; font-weight: 600; }
.status-partial, .status-cancelled { color: #4a4f5c; font-weight: 600; }
.targets { list-style: none; margin: 0; padding: 0; }
.targets li + li { margin-top: .4rem; }
.target-error, .field-problem { color: #7a1014; }
.field-problem { margin: 0 0 .5rem 1.6rem; font-size: .9rem; }
.choice label { margin-bottom: 0; }
.post-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.media-list { list-style: none; padding: 0; margin: .75rem 0 0; display: flex; flex-wrap: wrap; gap: .75rem; }
.media-list li { display: flex; flex-direction: column; gap: .25rem; }
.thumb { max-width: 12rem; max-height: 12rem; border-radius: 6px; border: 1px solid #d9dce3; }
.problem ul { margin: .25rem 0 0; padding-left: 1.25rem; }
.problem p { margin: 0; }
input[type=datetime-local] { font: inherit; padding: .45rem .6rem; border: 1px solid #767b88; border-radius: 6px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.copy { padding: .3rem .7rem; font-size: .9rem; margin-left: .5rem; }
.copied { color: #0d5224; font-size: .9rem; margin-left: .5rem; }
.copyable { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem; }
.copyable input { flex: 1 1 16rem; }
.count { color: #4a4f5c; margin: 0 0 .75rem; }
.actions.stacked { flex-direction: column; align-items: stretch; margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table.accounts tbody th { min-width: 16rem; max-width: 20rem; white-space: normal; overflow-wrap: anywhere; }
table.accounts .actions button, table.accounts .actions .button { white-space: nowrap; font-size: .9rem; padding: .4rem .7rem; }
/* A table of class "cards" becomes one card per row on a narrow screen: each cell shows its column's name. */
@media (max-width: 60rem) {
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.cards, table.cards tbody, table.cards tr, table.cards th, table.cards td { display: block; width: 100%; }
  table.cards tr { border-bottom: 2px solid #d9dce3; padding: .5rem 0; }
  table.cards tbody th { min-width: 0; max-width: none; }
  table.cards th, table.cards td { border: 0; padding: .3rem .75rem; overflow-wrap: anywhere; }
  table.cards td[data-label]::before { content: attr(data-label); display: block; font-size: .8rem; font-weight: 600; color: #4a4f5c; }
}
@media (max-width: 40rem) {
  header .signout { margin-left: 0; }
  main { margin-top: 1rem; }
  th, td { padding: .5rem; }
}
`;
