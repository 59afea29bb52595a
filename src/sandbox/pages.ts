// The sandbox network's own pages: a generic "Sandbox" sign-in/consent screen and its error page (the timeline is
// in timeline-pages.ts). They stand in for a social network's screens, so they carry the network's name only —
// never Switchboard's.

/** The policy for every sandbox HTML page: no scripts, inline styles only, no framing. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

const SCOPE_TEXT: Record<string, string> = {
  profile: 'See your name and profile picture',
  'pages.read': 'See the pages you manage',
  'posts.write': 'Publish posts for you',
  offline_access: 'Keep this access when you are not using the app',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The frame of every sandbox page; `wide` for the timeline, with its own extra `style` rules. */
export function layout(title: string, body: string, opts: { wide?: boolean; style?: string } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: #eef1f5; color: #1c1e21; }
  main { max-width: ${opts.wide ? '40rem' : '26rem'}; margin: 4rem auto; background: #fff; border-radius: 12px; padding: 2rem; box-shadow: 0 2px 12px rgba(0,0,0,.08); }
  h1 { margin: 0 0 1rem; font-size: 1.5rem; color: #3b5bdb; }
  label { display: block; font-weight: 600; margin-bottom: .25rem; }
  input { box-sizing: border-box; width: 100%; padding: .6rem; font-size: 1rem; border: 1px solid #ccd0d5; border-radius: 6px; }
  ul { padding-left: 1.25rem; }
  .error { color: #c92a2a; }
  /* Allow comes first in the form, so that pressing Enter allows. */
  .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
  button { flex: 1; padding: .7rem; font-size: 1rem; border-radius: 6px; border: 0; cursor: pointer; }
  button[value=allow] { background: #3b5bdb; color: #fff; }
  button[value=deny] { background: #e4e6eb; color: #1c1e21; }
${opts.style ?? ''}</style>
</head>
<body>
<main>
<h1>Sandbox</h1>
${body}
</main>
</body>
</html>`;
}

export interface ConsentPageInput {
  /** Where the form posts: the interaction's own URL. */
  action: string;
  scopes: string[];
  username?: string;
  error?: string;
}

export function consentPage(input: ConsentPageInput): string {
  const asked = input.scopes.map((s) => SCOPE_TEXT[s]).filter(Boolean);
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  return layout(
    'Sandbox',
    `<p>Sign in to continue to the app that sent you here.</p>
${error}
<form method="post" action="${escapeHtml(input.action)}">
<label for="username">Username</label>
<input id="username" name="username" value="${escapeHtml(input.username ?? '')}" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="40">
${asked.length ? `<p>The app will be able to:</p>\n<ul>${asked.map((t) => `<li>${escapeHtml(t)}</li>`).join('')}</ul>` : ''}
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>`,
  );
}

export function errorPage(title: string, message: string): string {
  return layout(`Sandbox — ${title}`, `<h2>${escapeHtml(title)}</h2>\n<p>${escapeHtml(message)}</p>`);
}
