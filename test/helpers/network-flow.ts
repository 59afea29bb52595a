// Full-flow helpers for real network adapters against their emulators: a Switchboard server whose upstream
// map sends the network's real origins to the emulator, an org app configured for the network, and a browser
// that goes start URL → (emulated) consent → our callback → redirect_uri.
import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { socialAccounts } from '../../src/db/schema.ts';
import { TestBrowser, type Hop } from './browser.ts';
import { REDIRECT_URI } from './flow.ts';
import { startTestServer, type TestServer } from './server.ts';

export { REDIRECT_URI };

/** A server whose outbound traffic to each of `origins` goes to `emulatorOrigin`. */
export async function startServerFor(emulatorOrigin: string, origins: string[], env: Record<string, string> = {}): Promise<TestServer> {
  const upstreams = Object.fromEntries(origins.map((o) => [o, emulatorOrigin]));
  return startTestServer({ SWITCHBOARD_UPSTREAMS: JSON.stringify(upstreams), ...env });
}

export async function configureNetwork(
  t: TestServer,
  network: string,
  app: { client_key: string; client_secret: string; scopes?: string[]; options?: Record<string, unknown> },
) {
  const res = await t.api('POST', '/v1/social-networks', { network, redirect_uris: [REDIRECT_URI], ...app });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body.data;
}

/**
 * Starts a connection and follows the browser until it is sent back to `redirect_uri` (or an answer that is
 * not a redirect, such as the hosted selection page). The emulated consent screen approves at once.
 */
export async function connectThroughBrowser(t: TestServer, network: string, body: Record<string, unknown> = {}, browser = new TestBrowser()): Promise<Hop> {
  const res = await t.api('POST', `/v1/social-networks/${network}/auth-url`, { redirect_uri: REDIRECT_URI, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return browser.follow(res.body.data.auth_url, (loc) => loc.startsWith(REDIRECT_URI));
}

export function resultOf(hop: Hop): URLSearchParams {
  expect(hop.location, `expected a redirect to redirect_uri, got ${hop.status}: ${hop.body.slice(0, 500)}`).toBeDefined();
  return new URL(hop.location!).searchParams;
}

/** Makes an account's token expire in a minute, so the next token request refreshes it first. */
export async function expireSoon(t: TestServer, accountId: string) {
  await t.server.ctx.db.update(socialAccounts).set({ tokenExpiresAt: new Date(Date.now() + 60_000) }).where(eq(socialAccounts.id, accountId));
}

/** The account's stored row, as the database holds it. */
export async function accountRow(t: TestServer, accountId: string) {
  const [row] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, accountId));
  return row;
}
