// The dashboard's sessions over HTTP: what the cookie carries and what the database keeps, and the ways a
// session ends (sign-out, revoking the key it signed in with).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dashboardSessions } from '../src/db/schema.ts';
import { sha256 } from '../src/security/secrets.ts';
import { TestBrowser } from './helpers/browser.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.close();
});

async function signIn(key: string) {
  const browser = new TestBrowser();
  const hop = await browser.request(`${t.url}/dashboard/login`, { form: { api_key: key } });
  expect(hop.status).toBe(303);
  const cookie = hop.headers.getSetCookie().find((c) => c.startsWith('sb_dashboard='))!;
  const page = await browser.request(`${t.url}/dashboard/branding`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1];
  return { browser, cookie, csrf };
}

it('keeps only a hash of the session id, never the key, and scopes the cookie to /dashboard', async () => {
  const { browser, cookie } = await signIn(t.apiKey);
  expect(cookie).toMatch(/HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Strict/i);
  expect(cookie).toMatch(/Path=\/dashboard/);
  const id = browser.cookies.get('sb_dashboard')!;
  const rows = await t.server.ctx.db.select().from(dashboardSessions);
  expect(rows.map((r) => r.idHash)).toContain(sha256(id));
  expect(JSON.stringify(rows)).not.toContain(id);
  expect(JSON.stringify(rows)).not.toContain(t.apiKey);
});

it('sign-out ends the session on the server', async () => {
  const { browser, csrf } = await signIn(t.apiKey);
  const id = browser.cookies.get('sb_dashboard')!;
  expect((await browser.request(`${t.url}/dashboard/logout`, { form: { _csrf: csrf } })).status).toBe(200);
  // Even a copy of the old cookie no longer works.
  const replay = await fetch(`${t.url}/dashboard/accounts`, { headers: { cookie: `sb_dashboard=${id}` }, redirect: 'manual' });
  expect(replay.status).toBe(303);
  expect(replay.headers.get('location')).toBe('/dashboard/login');
});

it('revoking the key a session signed in with ends the session', async () => {
  const created = await t.api('POST', '/v1/api-keys', { name: 'temporary' });
  const { browser } = await signIn(created.body.data.key);
  expect((await browser.request(`${t.url}/dashboard/accounts`)).status).toBe(200);
  await t.api('DELETE', `/v1/api-keys/${created.body.data.id}`);
  const after = await browser.request(`${t.url}/dashboard/accounts`);
  expect(after.status).toBe(303);
  expect(after.location).toBe(`${t.url}/dashboard/login`);
});

it('a session signed in with a standard key cannot revoke an admin key; an admin session can', async () => {
  const keys = async () => (await t.api('GET', '/v1/api-keys')).body.data as Array<{ id: string; name: string; revoked_at: string | null }>;
  const adminId = (await keys()).find((k) => k.name === 'bootstrap')!.id;
  const standard = await t.api('POST', '/v1/api-keys', { name: 'dashboard-standard' });
  const { browser, csrf } = await signIn(standard.body.data.key);

  // No button for it on the page…
  const page = await browser.request(`${t.url}/dashboard/api-keys`);
  expect(page.body).not.toContain(`/dashboard/api-keys/${adminId}/revoke`);
  expect(page.body).toContain('Revoked with an admin key');
  // …and the form posted anyway is refused, changing nothing.
  const refused = await browser.request(`${t.url}/dashboard/api-keys/${adminId}/revoke`, { form: { _csrf: csrf } });
  expect(refused.status).toBe(403);
  expect(refused.body).toContain('Only a session signed in with an admin key can revoke an admin key.');
  expect((await keys()).find((k) => k.id === adminId)!.revoked_at).toBeNull();
  expect((await t.api('GET', '/v1/social-accounts')).status).toBe(200);

  const second = await t.api('POST', '/v1/api-keys', { name: 'dashboard-admin', role: 'admin' });
  const admin = await signIn(t.apiKey);
  expect((await admin.browser.request(`${t.url}/dashboard/api-keys`)).body).toContain(`/dashboard/api-keys/${second.body.data.id}/revoke`);
  const revoked = await admin.browser.request(`${t.url}/dashboard/api-keys/${second.body.data.id}/revoke`, { form: { _csrf: admin.csrf } });
  expect(revoked.status).toBe(303);
  expect((await keys()).find((k) => k.id === second.body.data.id)!.revoked_at).not.toBeNull();
});

it('refuses unknown keys and sends the security headers', async () => {
  const hop = await new TestBrowser().request(`${t.url}/dashboard/login`, { form: { api_key: 'sb_nope' } });
  expect(hop.status).toBe(401);
  expect(hop.headers.getSetCookie()).toEqual([]);
  expect(hop.headers.get('x-frame-options')).toBe('DENY');
  expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
  // One script may run: the copy buttons' (by its hash; dashboard-manage.test.ts checks it is the page's only one).
  expect(hop.headers.get('content-security-policy')).toMatch(
    /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]{43}='; style-src 'self'; img-src 'self' https: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'$/,
  );
});
