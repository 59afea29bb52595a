// Branding over HTTP: `/v1/branding` changes what the hosted pages show (logo, accent colour, support link),
// bad input is refused in the contract shape and changes nothing.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestBrowser } from './helpers/browser.ts';
import { authUrl, configureSandbox, consent, REDIRECT_URI } from './helpers/flow.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await configureSandbox(t);
});

afterAll(async () => {
  await t?.close();
});

const brand = {
  name: 'Acme Social',
  logo_url: 'https://cdn.acme.example/logo.png',
  accent_color: '#FFD200',
  support_url: 'https://help.acme.example/connect',
};

it('sets and reads the branding', async () => {
  const before = await t.api('GET', '/v1/branding');
  expect(before.status).toBe(200);
  expect(before.body.data).toEqual({ name: 'default', logo_url: null, accent_color: null, support_url: null });

  const put = await t.api('PUT', '/v1/branding', brand);
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  expect(put.body.data).toEqual({ ...brand, accent_color: '#ffd200' });
  expect((await t.api('GET', '/v1/branding')).body.data.accent_color).toBe('#ffd200');
});

it('shows the branding on the selection page, with a readable button and the logo allowed by the CSP', async () => {
  await t.api('PUT', '/v1/branding', brand);
  const browser = new TestBrowser();
  const hop = await consent(browser, await authUrl(t), 'alice', 'allow', `${t.url}/connect/select`);
  const page = await browser.request(hop.location!);
  expect(page.status).toBe(200);
  expect(page.body).toContain('<img class="logo" src="https://cdn.acme.example/logo.png" alt="Acme Social">');
  expect(page.body).toContain('--accent: #ffd200');
  // Yellow is light: the button text is near-black, not white.
  expect(page.body).toContain('--on-accent: #16181d');
  expect(page.body).toContain('<a href="https://help.acme.example/connect" rel="noreferrer">Need help? Contact Acme Social support</a>');
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  const csp = page.headers.get('content-security-policy')!;
  expect(csp).toContain("default-src 'none'");
  expect(csp).toMatch(/img-src [^;]*https:\/\/cdn\.acme\.example/);
  expect(csp).not.toContain('script-src');
});

it('a dark accent gets white button text, and the error page is branded too', async () => {
  await t.api('PUT', '/v1/branding', { accent_color: '#0b3d2e', logo_url: null });
  const browser = new TestBrowser();
  const hop = await consent(browser, await authUrl(t, { tenant_id: 'branding' }), 'alice', 'deny');
  expect(hop.status).toBe(400);
  expect(hop.body).toContain('Connection cancelled');
  expect(hop.body).toContain('<p class="org">Acme Social</p>');
  expect(hop.body).toContain('--on-accent: #ffffff');
  expect(hop.body).toContain('Need help? Contact Acme Social support');
  expect(hop.body).not.toContain('<img class="logo"');
  expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
});

it('refuses bad input in the contract shape and changes nothing', async () => {
  const before = (await t.api('GET', '/v1/branding')).body.data;
  for (const bad of [
    { accent_color: 'red' },
    { accent_color: '#12345' },
    { logo_url: 'javascript:alert(1)' },
    { support_url: 'not a url' },
    { logo_url: 'https://ok.example/logo.png', support_url: 'ftp://files.example/help' },
    { name: '' },
  ]) {
    const res = await t.api('PUT', '/v1/branding', bad);
    expect(res.status, JSON.stringify(bad)).toBe(400);
    expect(res.body.success).toBe(false);
    expect(res.body.error).toBe('Invalid payload');
  }
  expect((await t.api('GET', '/v1/branding')).body.data).toEqual(before);
});

it('requires https for URLs unless private URLs are allowed', async () => {
  const strict = await startTestServer({ SWITCHBOARD_ALLOW_PRIVATE_URLS: 'false' });
  try {
    const http = await strict.api('PUT', '/v1/branding', { logo_url: 'http://cdn.acme.example/logo.png' });
    expect(http.status).toBe(400);
    expect(JSON.stringify(http.body.details)).toContain('https');
    const loopback = await strict.api('PUT', '/v1/branding', { support_url: 'https://127.0.0.1/help' });
    expect(loopback.status).toBe(400);
    expect((await strict.api('PUT', '/v1/branding', { logo_url: 'https://cdn.acme.example/logo.png' })).status).toBe(200);
  } finally {
    await strict.close();
  }
});

it('redirect-based flows are unaffected', async () => {
  const hop = await consent(new TestBrowser(), await authUrl(t, { redirect_uri: REDIRECT_URI, tenant_id: 'solo' }), 'solo-x');
  expect(new URL(hop.location!).searchParams.get('status')).toBe('success');
});
