// Driving the sandbox network's consent page like a person would, over HTTP.
import { expect, vi } from 'vitest';
import type { TestBrowser, Hop } from './browser.ts';
import type { TestServer } from './server.ts';

export const REDIRECT_URI = 'https://client.example.test/connected';

export async function configureSandbox(t: TestServer, redirectUris: string[] = [REDIRECT_URI], key?: string) {
  const res = await t.api('POST', '/v1/social-networks', { network: 'sandbox', redirect_uris: redirectUris }, key);
  expect([200, 201]).toContain(res.status);
  return res.body.data;
}

export async function authUrl(t: TestServer, body: Record<string, unknown> = { redirect_uri: REDIRECT_URI }, key?: string): Promise<string> {
  const res = await t.api('POST', '/v1/social-networks/sandbox/auth-url', body, key);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.auth_url;
}

/** Opens the start URL and follows redirects to the sandbox's consent page. */
export async function openConsent(browser: TestBrowser, startUrl: string): Promise<Hop> {
  const page = await browser.follow(startUrl);
  expect(page.status, page.body.slice(0, 300)).toBe(200);
  expect(page.body).toContain('Username');
  return page;
}

/** Submits the consent form (Allow or Deny) and follows redirects until our callback answers. */
export async function decide(browser: TestBrowser, consent: Hop, username: string, decision: 'allow' | 'deny', stopAt = REDIRECT_URI): Promise<Hop> {
  const action = /<form[^>]*action="([^"]+)"/.exec(consent.body)?.[1] ?? consent.url;
  const target = new URL(action.replace(/&amp;/g, '&'), consent.url).toString();
  return browser.follow(target, (loc) => loc.startsWith(stopAt), { form: { username, decision } });
}

/** The whole consent step: start URL → consent → decision → the hop that redirects to `stopAt` (or an answer). */
export async function consent(browser: TestBrowser, startUrl: string, username: string, decision: 'allow' | 'deny' = 'allow', stopAt = REDIRECT_URI) {
  return decide(browser, await openConsent(browser, startUrl), username, decision, stopAt);
}

export function resultParams(hop: Hop): URLSearchParams {
  expect(hop.location, `expected a redirect, got ${hop.status}: ${hop.body.slice(0, 300)}`).toBeDefined();
  return new URL(hop.location!).searchParams;
}

/**
 * Runs `step` with the process's clock (Date only: timers and the database keep real time) `ms` ahead: a start
 * link carries its own expiry, so "opened 15 minutes later" is the clock having moved.
 */
export async function later<T>(ms: number, step: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + ms });
  try {
    return await step();
  } finally {
    vi.useRealTimers();
  }
}
