// A real browser (Debian's Chromium, driven by playwright-core) clicks through the sandbox flow:
// "Allow", tick two pages, "Connect", and lands on the organization's redirect_uri with two account ids.
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers/browser.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startTestServer, type TestServer } from './helpers/server.ts';

let t: TestServer;
let browser: Browser;
let client: Server;
let redirectUri: string;
const artifacts = 'test-results/screenshots';

beforeAll(async () => {
  t = await startTestServer();
  // The organization's own app, where users land after connecting.
  const port = await freePort();
  client = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>Client app</title><h1>Back in the client app</h1>');
  });
  await new Promise<void>((resolve) => client.listen(port, '127.0.0.1', resolve));
  redirectUri = `http://127.0.0.1:${port}/connected`;
  browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  client?.close();
  await t?.close();
});

it('Allow → tick two pages → Connect → redirect_uri with two account ids', async () => {
  await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: [redirectUri] });
  const start = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { redirect_uri: redirectUri, tenant_id: 'browser-tenant' });
  const page = await browser.newPage();

  await page.goto(start.body.data.auth_url);
  await page.getByLabel('Username').fill('dana');
  await page.screenshot({ path: `${artifacts}/sandbox-consent.png`, fullPage: true });
  await page.getByRole('button', { name: 'Allow' }).click();

  await page.waitForURL(/\/connect\/select/);
  expect(await page.getByRole('checkbox').count()).toBe(4);
  await page.getByLabel('Dana Page 1').check();
  await page.getByLabel('Dana Page 3').check();
  await page.screenshot({ path: `${artifacts}/selection.png`, fullPage: true });
  await page.getByRole('button', { name: 'Connect' }).click();

  await page.waitForURL((url) => url.toString().startsWith(redirectUri));
  const result = new URL(page.url()).searchParams;
  expect(result.get('status')).toBe('success');
  expect(result.get('tenant_id')).toBe('browser-tenant');
  const ids = result.getAll('account_id');
  expect(ids).toHaveLength(2);

  const listed = await t.api('GET', '/v1/social-accounts?tenantId=browser-tenant');
  expect(listed.body.data.map((a: any) => a.id).sort()).toEqual([...ids].sort());
  expect(listed.body.data.map((a: any) => a.nickname).sort()).toEqual(['Dana Page 1', 'Dana Page 3']);
});

it('shows the hosted connected page when there is no redirect_uri', async () => {
  const start = await t.api('POST', '/v1/social-networks/sandbox/auth-url', { tenant_id: 'browser-hosted' });
  const page = await browser.newPage();
  await page.goto(start.body.data.auth_url);
  await page.getByLabel('Username').fill('solo-erin');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: /connected/i }).waitFor();
  expect(await page.textContent('body')).toContain('Solo-erin');
  await page.screenshot({ path: `${artifacts}/connected.png`, fullPage: true });
});

it('Ocoya surface: authUrl → consent → selection → hosted landing page; the profiles are listed', async () => {
  const workspaces = await (await fetch(`${t.url}/api/_public/v1/workspaces`, { headers: { 'x-api-key': t.apiKey } })).json() as any[];
  const workspaceId = workspaces[0].id;
  const connection = await (
    await fetch(`${t.url}/api/_public/v1/social-profiles/connection-url?workspaceId=${workspaceId}&provider=sandbox`, { headers: { 'x-api-key': t.apiKey } })
  ).json() as any;
  const page = await browser.newPage();
  await page.goto(connection.authUrl);
  await page.getByLabel('Username').fill('olivia');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(/\/connect\/select/);
  await page.getByLabel('Olivia Page 2').check();
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByRole('heading', { name: /connected/i }).waitFor();
  expect(await page.textContent('body')).toContain('Olivia Page 2');
  await page.screenshot({ path: `${artifacts}/ocoya-connected.png`, fullPage: true });

  const profiles = await (await fetch(`${t.url}/api/_public/v1/social-profiles?workspaceId=${workspaceId}`, { headers: { 'x-api-key': t.apiKey } })).json() as any[];
  expect(profiles.map((p) => [p.provider, p.name])).toContainEqual(['sandbox', 'Olivia Page 2']);
});
