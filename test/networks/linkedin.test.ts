// LinkedIn through our HTTP API only, against the LinkedIn emulator: the member and the organizations they
// administer (the selection step), 60-day tokens, refresh tokens only for approved apps and never past their first
// 365 days, revocation, and each class of error.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { socialAccounts } from '../../src/db/schema.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { LINKEDIN_ORIGINS, linkedinFailures, startLinkedInEmulator, type LinkedInEmulator, type LinkedInMember } from '../emulators/linkedin.ts';

const MEMBER_SCOPES = ['openid', 'profile', 'email', 'w_member_social'];
const ORGANIZATION_SCOPES = ['r_organization_admin', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'];
const APP = { clientId: '86linkedinclient', clientSecret: 'linkedin-client-secret', scopes: [...MEMBER_SCOPES, ...ORGANIZATION_SCOPES] };
const DAY = 24 * 3600 * 1000;

const member = (sub: string, name: string, organizations: LinkedInMember['organizations'] = []): LinkedInMember => ({
  sub,
  name,
  email: `${sub.toLowerCase()}@example.com`,
  organizations,
});

const MEMBERS = [
  member('Mia1a2b3c', 'Mia Moreau', [
    { id: 1001, name: 'Moreau Studio', vanityName: 'moreau-studio' },
    { id: 1002, name: 'Moreau Labs', vanityName: 'moreau-labs' },
    { id: 1003, name: 'Analytics Only', vanityName: 'analytics-only', role: 'ANALYST' },
    { id: 1004, name: 'Pending Admin', vanityName: 'pending-admin', state: 'REQUESTED' },
  ]),
  member('Noah4d5e6f', 'Noah Nakamura'),
  member('Olga7g8h9i', 'Olga Orlova'),
  member('Pia0j1k2l', 'Pia Persson'),
  member('Quinn3m4n5', 'Quinn Quist'),
  member('Rosa6o7p8q', 'Rosa Rossi', [{ id: 2001, name: 'Rossi & Co', vanityName: 'rossi-co' }]),
];

let li: LinkedInEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  li = await startLinkedInEmulator({ app: APP, members: MEMBERS });
  t = await startServerFor(li.origin, LINKEDIN_ORIGINS);
  callbackUrl = `${t.url}/oauth/linkedin/callback`;
  li.allowRedirectUri(callbackUrl);
  await configureNetwork(t, 'linkedin', { client_key: APP.clientId, client_secret: APP.clientSecret, options: { organizations: true } });
});
afterAll(async () => {
  await t?.close();
  await li?.close();
});

async function connectAs(sub: string, body: Record<string, unknown> = {}, choices: Parameters<LinkedInEmulator['signIn']>[1] = {}) {
  li.signIn(sub, choices);
  return resultOf(await connectThroughBrowser(t, 'linkedin', { tenant_id: `tenant-${sub}`, ...body }));
}

/** Connects a member without organizations: a single profile, no selection step. */
async function connectedMember(sub: string) {
  const params = await connectAs(sub);
  expect(params.get('status'), params.toString()).toBe('success');
  return params.get('account_id')!;
}

async function storedRow(accountId: string) {
  const [row] = await t.server.ctx.db.select().from(socialAccounts).where(eq(socialAccounts.id, accountId));
  return row;
}

const userinfo = (token: string) => fetch(`${li.origin}/v2/userinfo`, { headers: { authorization: `Bearer ${token}` } });

/** Runs `body` with the app approved (or not) for programmatic refresh tokens, then restores the default. */
async function withRefreshApproval<T>(approved: boolean, body: () => Promise<T>): Promise<T> {
  li.setRefreshTokenApproval(approved);
  try {
    return await body();
  } finally {
    li.setRefreshTokenApproval(false);
  }
}

describe('connecting', () => {
  it('sends the browser to LinkedIn with space-separated scopes, organization scopes included, and no PKCE', async () => {
    const config = (await t.api('GET', '/v1/social-networks/linkedin')).body.data;
    expect(config.scopes).toEqual([...MEMBER_SCOPES, 'r_organization_admin', 'w_organization_social']);
    expect(config.callback_url).toBe(callbackUrl);
    const res = await t.api('POST', '/v1/social-networks/linkedin/auth-url', { redirect_uri: REDIRECT_URI });
    const hop = await new TestBrowser().request(res.body.data.auth_url);
    const authorize = new URL(hop.location!);
    expect(authorize.origin + authorize.pathname).toBe(`${li.origin}/oauth/v2/authorization`);
    expect(Object.fromEntries(authorize.searchParams)).toEqual({
      response_type: 'code',
      client_id: APP.clientId,
      redirect_uri: callbackUrl,
      state: expect.stringMatching(/^.{43,}$/),
      scope: 'openid profile email w_member_social r_organization_admin w_organization_social',
    });
  });

  it('refuses options it does not know', async () => {
    const res = await t.api('POST', '/v1/social-networks', { network: 'linkedin', client_key: 'k', client_secret: 's', options: { pages: true } });
    expect(res.status).toBe(400);
    expect(res.body.details.options).toBeDefined();
  });

  it('lists the member and the organizations they administer, and connects the chosen ones', async () => {
    const params = await connectAs('Mia1a2b3c', { selection: 'headless' });
    expect(params.get('network')).toBe('linkedin');
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    expect(pending.body.data.availablePages).toEqual([
      expect.objectContaining({ id: 'Mia1a2b3c', type: 'personal', name: 'Mia Moreau', username: null }),
      expect.objectContaining({ id: '1001', type: 'organization', name: 'Moreau Studio', username: 'moreau-studio' }),
      expect.objectContaining({ id: '1002', type: 'organization', name: 'Moreau Labs', username: 'moreau-labs' }),
    ]);

    // Client credentials travelled in the form body; the versioned API got its headers.
    const exchange = li.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.body).toEqual({ grant_type: 'authorization_code', code: expect.any(String), redirect_uri: callbackUrl, client_id: APP.clientId, client_secret: APP.clientSecret });
    expect(exchange.headers.authorization).toBeUndefined();
    const acls = li.state.calls.filter((c) => c.path === '/rest/organizationAcls').at(-1)!;
    expect(acls.query).toMatchObject({ q: 'roleAssignee', role: 'ADMINISTRATOR', state: 'APPROVED' });
    expect(acls.headers['linkedin-version']).toMatch(/^20\d{4}$/);
    expect(acls.headers['x-restli-protocol-version']).toBe('2.0.0');
    expect(li.state.calls.filter((c) => c.path === '/rest/organizations').at(-1)!.query.ids).toBe('List(1001,1002)');

    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['Mia1a2b3c', '1002'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const [person, organization] = done.body.connectedAccounts;
    expect(person).toMatchObject({
      network: 'linkedin',
      network_unique_id: 'Mia1a2b3c',
      username: null,
      nickname: 'Mia Moreau',
      account_type: 'personal',
      tenant_id: 'tenant-Mia1a2b3c',
      status: 'active',
    });
    expect(person.profile_picture_url).toMatch(/^https:\/\/media\.licdn\.com\//);
    expect(person.scopes).toEqual([...MEMBER_SCOPES, 'r_organization_admin', 'w_organization_social']);
    expect(Date.parse(person.token_expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    expect(organization).toMatchObject({ network_unique_id: '1002', account_type: 'organization', username: 'moreau-labs', nickname: 'Moreau Labs', status: 'active' });
  });

  it('hosted selection, and connecting the same organization again keeps its account id', async () => {
    const connectOrganization = async () => {
      li.signIn('Rosa6o7p8q');
      const browser = new TestBrowser();
      const select = await connectThroughBrowser(t, 'linkedin', { tenant_id: 'tenant-rosa' }, browser);
      expect(select.status).toBe(200);
      expect([...select.body.matchAll(/name="selected" value="([^"]+)"/g)].map((m) => m[1])).toEqual(['Rosa6o7p8q', '2001']);
      const session = /name="session" value="([^"]+)"/.exec(select.body)![1];
      const params = resultOf(await browser.request(`${t.url}/connect/select`, { form: { session, selected: ['2001'] } }));
      expect(params.get('status')).toBe('success');
      expect(params.get('network_unique_id')).toBe('2001');
      return params.get('account_id');
    };
    const first = await connectOrganization();
    expect(await connectOrganization()).toBe(first);
    expect((await t.api('GET', '/v1/social-accounts?tenantId=tenant-rosa')).body.data).toHaveLength(1);
  });

  it('a member without organizations is connected at once, and health checks /v2/userinfo', async () => {
    const params = await connectAs('Noah4d5e6f');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'linkedin', network_unique_id: 'Noah4d5e6f' });
    const health = await t.api('GET', `/v1/social-accounts/${params.get('account_id')}/health`);
    expect(health.body.data).toMatchObject({ healthy: true, status: 'active' });
  });
});

describe('tokens', () => {
  it('an approved app refreshes, and the refresh token still ends 365 days after the first consent', async () => {
    const id = await withRefreshApproval(true, () => connectedMember('Olga7g8h9i'));
    const connectedRow = await storedRow(id);
    expect(connectedRow.refreshTokenExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 364 * DAY);
    // A hundred days later, LinkedIn reports 265 days left: the stored end date must not move.
    li.ageConsent('Olga7g8h9i', 100 * DAY);
    await t.server.ctx.db.update(socialAccounts).set({ refreshTokenExpiresAt: new Date(connectedRow.refreshTokenExpiresAt!.getTime() - 100 * DAY) }).where(eq(socialAccounts.id, id));
    const before = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.access_token).not.toBe(before);
    expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    const refreshed = await storedRow(id);
    expect(Math.abs(refreshed.refreshTokenExpiresAt!.getTime() - (Date.now() + 265 * DAY))).toBeLessThan(60_000);
    const refresh = li.state.calls.filter((c) => c.body?.grant_type === 'refresh_token').at(-1)!;
    expect(refresh.body).toMatchObject({ client_id: APP.clientId, client_secret: APP.clientSecret });
    expect((await userinfo(res.body.data.access_token)).status).toBe(200);
  });

  it('an app without refresh-token approval: the account must be reconnected, in plain words', async () => {
    const id = await connectedMember('Pia0j1k2l');
    expect((await storedRow(id)).refreshTokenEnc).toBeNull();
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
    expect(res.body.message).toBe(
      "LinkedIn issued no refresh token to this app (refresh tokens need LinkedIn's approval): the member must reconnect before the 60-day token expires",
    );
    expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('reauth_required');
  });

  it('a transient failure (5xx or throttling) answers 503 and the account stays active', async () => {
    const id = await withRefreshApproval(true, () => connectedMember('Quinn3m4n5'));
    for (const failure of [linkedinFailures.serverError(), linkedinFailures.throttled()]) {
      await expireSoon(t, id);
      li.failNext('token', failure);
      const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
      expect(res.status).toBe(503);
      expect((await t.api('GET', `/v1/social-accounts/${id}`)).body.data.status).toBe('active');
    }
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(200);
  });

  it("a revoked grant answers 409 with LinkedIn's words and the account needs reauthorization", async () => {
    const id = await withRefreshApproval(true, () => connectedMember('Quinn3m4n5'));
    li.revokeMember('Quinn3m4n5');
    const health = await t.api('GET', `/v1/social-accounts/${id}/health`);
    expect(health.body.data).toMatchObject({ healthy: false, status: 'reauth_required' });
    expect(health.body.data.error).toBe('The provided authorization grant or refresh token is invalid, expired or revoked.');
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(409);
  });

  it('disconnecting the member revokes the token at LinkedIn; disconnecting an organization revokes nothing', async () => {
    li.signIn('Mia1a2b3c');
    const params = resultOf(await connectThroughBrowser(t, 'linkedin', { tenant_id: 'tenant-bye', selection: 'headless' }));
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['Mia1a2b3c', '1001'] });
    const [person, organization] = done.body.connectedAccounts;
    const token = (await t.api('POST', `/v1/social-accounts/${person.id}/token`)).body.data.access_token;

    const revocations = () => li.state.calls.filter((c) => c.path === '/oauth/v2/revoke').length;
    const before = revocations();
    expect((await t.api('DELETE', `/v1/social-accounts/${organization.id}`)).body.data.status).toBe('disconnected');
    expect(revocations()).toBe(before);

    expect((await t.api('DELETE', `/v1/social-accounts/${person.id}`)).body.data.status).toBe('disconnected');
    expect(li.state.calls.filter((c) => c.path === '/oauth/v2/revoke').at(-1)!.body).toEqual({ client_id: APP.clientId, client_secret: APP.clientSecret, token });
    const after = await userinfo(token);
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ serviceErrorCode: 65601 });
  });
});

describe('errors during the callback', () => {
  it('cancelling the authorization: OAuth\'s access_denied and plain words', async () => {
    const params = await connectAs('Noah4d5e6f', {}, { cancel: true });
    expect(Object.fromEntries(params)).toMatchObject({
      status: 'error',
      error: 'access_denied',
      error_description: 'The connection was cancelled on LinkedIn: permission was not granted.',
    });
  });

  it('an app without the Community Management API asking for organization scopes', async () => {
    li.setAppScopes(MEMBER_SCOPES);
    try {
      const params = await connectAs('Noah4d5e6f');
      expect(params.get('error')).toBe('unauthorized_scope_error');
      expect(params.get('error_description')).toBe('Scope "r_organization_admin" is not authorized for your application');
    } finally {
      li.setAppScopes(APP.scopes);
    }
  });

  it("LinkedIn's own error text from the token endpoint", async () => {
    li.failNext('token', linkedinFailures.invalidRequest('Unable to retrieve access token: authorization code expired'));
    const params = await connectAs('Noah4d5e6f');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'error', error: 'invalid_request', error_description: 'Unable to retrieve access token: authorization code expired' });
  });

  it("an outage at LinkedIn's API", async () => {
    li.failNext('api', linkedinFailures.serverError());
    const params = await connectAs('Noah4d5e6f');
    expect(params.get('error')).toBe('temporarily_unavailable');
  });
});

describe('the emulator enforces the contract', () => {
  async function code() {
    li.signIn('Noah4d5e6f');
    const url = new URL(`${li.origin}/oauth/v2/authorization`);
    url.search = new URLSearchParams({ response_type: 'code', client_id: APP.clientId, redirect_uri: callbackUrl, state: 's', scope: 'openid profile' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }
  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${li.origin}/oauth/v2/accessToken`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as any }),
    );

  it('wants the client credentials in the body, not HTTP Basic', async () => {
    const basic = `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}`;
    const res = await token({ grant_type: 'authorization_code', code: await code(), redirect_uri: callbackUrl }, { authorization: basic });
    expect(res).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'A required parameter "client_id" is missing' } });
  });

  it('wants the same redirect_uri and a code used once', async () => {
    const form = { grant_type: 'authorization_code', client_id: APP.clientId, client_secret: APP.clientSecret, code: await code() };
    expect((await token({ ...form, redirect_uri: `${callbackUrl}/other` })).body.error).toBe('invalid_request');
    const again = await token({ ...form, redirect_uri: callbackUrl });
    expect(again.body.error_description).toMatch(/^Unable to retrieve access token/);
  });

  it('refuses a versioned call without LinkedIn-Version or X-Restli-Protocol-Version', async () => {
    const issued = await token({ grant_type: 'authorization_code', client_id: APP.clientId, client_secret: APP.clientSecret, code: await code(), redirect_uri: callbackUrl });
    const acls = (headers: Record<string, string>) =>
      fetch(`${li.origin}/rest/organizationAcls?q=roleAssignee`, { headers: { authorization: `Bearer ${issued.body.access_token}`, ...headers } }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect((await acls({})).body.code).toBe('VERSION_MISSING');
    expect((await acls({ 'linkedin-version': '202610' })).status).toBe(400);
    expect((await acls({ 'linkedin-version': '202610', 'x-restli-protocol-version': '2.0.0' })).body).toMatchObject({ status: 403, code: 'ACCESS_DENIED' });
  });
});
