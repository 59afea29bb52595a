// LinkedIn through our HTTP API only, against the LinkedIn emulator. The main app is a Community Management app (that
// product alone on its app, so it cannot grant openid/profile/email): organization mode asks r_basicprofile and the
// organization scopes, reads the member from /v2/me, and offers the Pages the member administers or content-
// administers (the selection step). Also: member mode on a Sign-In-with-LinkedIn app, the pinned LinkedIn-Version
// and its 426, 60-day tokens, refresh tokens only for approved apps and never past their first 365 days,
// revocation, and each class of error.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { socialAccounts } from '../../src/db/schema.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { LINKEDIN_ORIGINS, linkedinFailures, SERVED_VERSIONS, startLinkedInEmulator, type LinkedInEmulator, type LinkedInMember } from '../emulators/linkedin.ts';

const MEMBER_SCOPES = ['openid', 'profile', 'email', 'w_member_social'];
/** What the Community Management API product grants its app. */
const COMMUNITY_MANAGEMENT_SCOPES = ['r_basicprofile', 'w_member_social', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'];
/** What organization mode asks by default. */
const ORGANIZATION_MODE_SCOPES = ['r_basicprofile', 'w_member_social', 'rw_organization_admin', 'w_organization_social', 'r_organization_social'];
const APP = { clientId: '86linkedinclient', clientSecret: 'linkedin-client-secret', scopes: COMMUNITY_MANAGEMENT_SCOPES };
const DAY = 24 * 3600 * 1000;

const member = (sub: string, name: string, organizations: LinkedInMember['organizations'] = []): LinkedInMember => ({
  sub,
  name,
  vanityName: name.toLowerCase().replace(/ /g, '-'),
  email: `${sub.toLowerCase()}@example.com`,
  organizations,
});

const MEMBERS = [
  member('Mia1a2b3c', 'Mia Moreau', [
    { id: 1001, name: 'Moreau Studio', vanityName: 'moreau-studio' },
    { id: 1002, name: 'Moreau Labs', vanityName: 'moreau-labs' },
    { id: 1003, name: 'Analytics Only', vanityName: 'analytics-only', role: 'ANALYST' },
    { id: 1004, name: 'Pending Admin', vanityName: 'pending-admin', state: 'REQUESTED' },
    { id: 1005, name: 'Moreau Press', vanityName: 'moreau-press', role: 'CONTENT_ADMINISTRATOR' },
    { id: 1006, name: 'Sponsored Only', vanityName: 'sponsored-only', role: 'DIRECT_SPONSORED_CONTENT_POSTER' },
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

const me = (token: string) => fetch(`${li.origin}/v2/me`, { headers: { authorization: `Bearer ${token}` } });

/** Runs `body` with the org's LinkedIn configured otherwise (and the emulated app's products), then restores both. */
async function withConfig<T>(config: { scopes?: string[]; options?: Record<string, unknown> }, appScopes: string[], body: () => Promise<T>): Promise<T> {
  await configureNetwork(t, 'linkedin', { client_key: APP.clientId, client_secret: APP.clientSecret, ...config });
  li.setAppScopes(appScopes);
  try {
    return await body();
  } finally {
    li.setAppScopes(APP.scopes);
    await configureNetwork(t, 'linkedin', { client_key: APP.clientId, client_secret: APP.clientSecret, options: { organizations: true } });
  }
}

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
  it('organization mode asks r_basicprofile and the organization scopes, never openid/profile/email; space-separated, no PKCE', async () => {
    const config = (await t.api('GET', '/v1/social-networks/linkedin')).body.data;
    expect(config.scopes).toEqual(ORGANIZATION_MODE_SCOPES);
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
      scope: 'r_basicprofile w_member_social rw_organization_admin w_organization_social r_organization_social',
    });
  });

  it('refuses options it does not know', async () => {
    const res = await t.api('POST', '/v1/social-networks', { network: 'linkedin', client_key: 'k', client_secret: 's', options: { pages: true } });
    expect(res.status).toBe(400);
    expect(res.body.details.options).toBeDefined();
  });

  it('lists the member (from /v2/me) and the organizations they administer or content-administer, and connects the chosen ones', async () => {
    const callsBefore = li.state.calls.length;
    const params = await connectAs('Mia1a2b3c', { selection: 'headless' });
    expect(params.get('network'), params.toString()).toBe('linkedin');
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    expect(pending.body.data.availablePages).toEqual([
      expect.objectContaining({ id: 'Mia1a2b3c', type: 'personal', name: 'Mia Moreau', username: 'mia-moreau' }),
      expect.objectContaining({ id: '1001', type: 'organization', name: 'Moreau Studio', username: 'moreau-studio' }),
      expect.objectContaining({ id: '1002', type: 'organization', name: 'Moreau Labs', username: 'moreau-labs' }),
      expect.objectContaining({ id: '1005', type: 'organization', name: 'Moreau Press', username: 'moreau-press' }),
    ]);
    const paths = li.state.calls.slice(callsBefore).map((c) => c.path);
    expect(paths).toContain('/v2/me');
    expect(paths).not.toContain('/v2/userinfo');

    // Client credentials travelled in the form body; the versioned API got its headers.
    const exchange = li.state.calls.filter((c) => c.body?.grant_type === 'authorization_code').at(-1)!;
    expect(exchange.body).toEqual({ grant_type: 'authorization_code', code: expect.any(String), redirect_uri: callbackUrl, client_id: APP.clientId, client_secret: APP.clientSecret });
    expect(exchange.headers.authorization).toBeUndefined();
    const acls = li.state.calls.filter((c) => c.path === '/rest/organizationAcls').at(-1)!;
    // No `role` filter: the finder answers every role, and administrators and content administrators are kept.
    expect(acls.query).toEqual({ q: 'roleAssignee', state: 'APPROVED', start: '0', count: '100' });
    expect(acls.headers['linkedin-version']).toBe('202607');
    expect(acls.headers['x-restli-protocol-version']).toBe('2.0.0');
    expect(li.state.calls.filter((c) => c.path === '/rest/organizations').at(-1)!.query.ids).toBe('List(1001,1002,1005)');

    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['Mia1a2b3c', '1002'] });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const [person, organization] = done.body.connectedAccounts;
    expect(person).toMatchObject({
      network: 'linkedin',
      network_unique_id: 'Mia1a2b3c',
      username: 'mia-moreau',
      nickname: 'Mia Moreau',
      account_type: 'personal',
      tenant_id: 'tenant-Mia1a2b3c',
      status: 'active',
    });
    // r_basicprofile gives the picture as a media URN only: no URL is stored.
    expect(person.profile_picture_url).toBeNull();
    expect(person.scopes).toEqual(ORGANIZATION_MODE_SCOPES);
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

  it('a member without organizations is connected at once, and health checks /v2/me', async () => {
    const params = await connectAs('Noah4d5e6f');
    expect(Object.fromEntries(params)).toMatchObject({ status: 'success', network: 'linkedin', network_unique_id: 'Noah4d5e6f' });
    const health = await t.api('GET', `/v1/social-accounts/${params.get('account_id')}/health`);
    expect(health.body.data).toMatchObject({ healthy: true, status: 'active' });
    expect(li.state.calls.at(-1)).toMatchObject({ path: '/v2/me' });
  });

  it('without w_member_social in the scopes, organization mode offers the Pages only', async () => {
    const scopes = ['r_basicprofile', 'rw_organization_admin', 'w_organization_social'];
    await withConfig({ scopes, options: { organizations: true } }, APP.scopes, async () => {
      const params = await connectAs('Mia1a2b3c', { selection: 'headless', tenant_id: 'tenant-pages-only' });
      const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
      expect(pending.body.data.availablePages.map((p: any) => [p.id, p.type])).toEqual([
        ['1001', 'organization'],
        ['1002', 'organization'],
        ['1005', 'organization'],
      ]);
      // And a member who administers nothing has nothing to connect, said in plain words.
      const nothing = await connectAs('Noah4d5e6f', { tenant_id: 'tenant-nothing' });
      expect(nothing.get('error')).toBe('access_denied');
      expect(nothing.get('error_description')).toMatch(/^This LinkedIn member is not an administrator or content administrator of any organization Page/);
    });
  });

  it('member mode on a Sign In with LinkedIn app: openid profile email w_member_social, the member from /v2/userinfo', async () => {
    await withConfig({}, MEMBER_SCOPES, async () => {
      const callsBefore = li.state.calls.length;
      const params = await connectAs('Noah4d5e6f', { tenant_id: 'tenant-member-mode' });
      expect(params.get('status'), params.toString()).toBe('success');
      const authorize = li.state.calls.slice(callsBefore).find((c) => c.path === '/oauth/v2/authorization')!;
      expect(authorize.query.scope).toBe('openid profile email w_member_social');
      expect(li.state.calls.slice(callsBefore).map((c) => c.path)).toContain('/v2/userinfo');
      const account = (await t.api('GET', `/v1/social-accounts/${params.get('account_id')}`)).body.data;
      expect(account).toMatchObject({ nickname: 'Noah Nakamura', username: null, account_type: 'personal' });
      expect(account.profile_picture_url).toMatch(/^https:\/\/media\.licdn\.com\//);
      expect((await t.api('GET', `/v1/social-accounts/${account.id}/health`)).body.data.healthy).toBe(true);
      expect(li.state.calls.at(-1)).toMatchObject({ path: '/v2/userinfo' });
    });
  });

  it('the LinkedIn-Version is the operator\'s: SWITCHBOARD_LINKEDIN_VERSION, YYYYMM', async () => {
    const other = await startServerFor(li.origin, LINKEDIN_ORIGINS, { SWITCHBOARD_LINKEDIN_VERSION: '202603' });
    try {
      li.allowRedirectUri(`${other.url}/oauth/linkedin/callback`);
      await configureNetwork(other, 'linkedin', { client_key: APP.clientId, client_secret: APP.clientSecret, options: { organizations: true } });
      li.signIn('Rosa6o7p8q');
      const select = await connectThroughBrowser(other, 'linkedin', { tenant_id: 'tenant-202603' });
      expect(select.status).toBe(200);
      expect(li.state.calls.filter((c) => c.path.startsWith('/rest/')).at(-1)!.headers['linkedin-version']).toBe('202603');
    } finally {
      await other.close();
    }
    expect(() => loadConfig({ SWITCHBOARD_LINKEDIN_VERSION: '2026-07' })).toThrow(/SWITCHBOARD_LINKEDIN_VERSION: must be a LinkedIn API version, YYYYMM/);
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
    expect((await me(res.body.data.access_token)).status).toBe(200);
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
    const after = await me(token);
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

  it('an app without the Community Management API asking for organization mode: LinkedIn refuses the whole authorization', async () => {
    li.setAppScopes(MEMBER_SCOPES);
    try {
      const params = await connectAs('Noah4d5e6f');
      expect(params.get('error')).toBe('unauthorized_scope_error');
      expect(params.get('error_description')).toBe(
        'Scope "r_basicprofile" is not authorized for your application. Organization Pages need the Community Management API, which LinkedIn allows only as the only product of its own app.',
      );
    } finally {
      li.setAppScopes(APP.scopes);
    }
  });

  it('a Community Management app cannot grant openid: member mode on it is refused, and told what to set', async () => {
    await withConfig({}, APP.scopes, async () => {
      const params = await connectAs('Noah4d5e6f', { tenant_id: 'tenant-cm-openid' });
      expect(params.get('error')).toBe('unauthorized_scope_error');
      expect(params.get('error_description')).toBe(
        'Scope "openid" is not authorized for your application. A LinkedIn app with the Community Management API cannot grant Sign In with LinkedIn scopes: configure LinkedIn for it with options {"organizations": true}.',
      );
    });
  });

  it('a LinkedIn-Version LinkedIn no longer serves (426 NONEXISTENT_VERSION) is the operator\'s to fix, and says so', async () => {
    li.setVersions(['202608']);
    try {
      const params = await connectAs('Mia1a2b3c', { tenant_id: 'tenant-426' });
      expect(params.get('error')).toBe('server_error');
      expect(params.get('error_description')).toBe(
        'LinkedIn does not serve API version 202607 ("Requested version 20260701 is not active"). The operator of this service must set SWITCHBOARD_LINKEDIN_VERSION ' +
          'to a current LinkedIn API version, YYYYMM (listed at https://learn.microsoft.com/en-us/linkedin/marketing/versioning), and restart it.',
      );
    } finally {
      li.setVersions(SERVED_VERSIONS);
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
    url.search = new URLSearchParams({ response_type: 'code', client_id: APP.clientId, redirect_uri: callbackUrl, state: 's', scope: 'r_basicprofile w_member_social' }).toString();
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

  it('refuses a versioned call without LinkedIn-Version, with one it does not serve, or without X-Restli-Protocol-Version', async () => {
    const issued = await token({ grant_type: 'authorization_code', client_id: APP.clientId, client_secret: APP.clientSecret, code: await code(), redirect_uri: callbackUrl });
    const acls = (headers: Record<string, string>) =>
      fetch(`${li.origin}/rest/organizationAcls?q=roleAssignee`, { headers: { authorization: `Bearer ${issued.body.access_token}`, ...headers } }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect((await acls({})).body.code).toBe('VERSION_MISSING');
    expect(await acls({ 'linkedin-version': '202512', 'x-restli-protocol-version': '2.0.0' })).toEqual({
      status: 426,
      body: { status: 426, code: 'NONEXISTENT_VERSION', message: 'Requested version 20251201 is not active' },
    });
    expect((await acls({ 'linkedin-version': '202607' })).status).toBe(400);
    expect((await acls({ 'linkedin-version': '202607', 'x-restli-protocol-version': '2.0.0' })).body).toMatchObject({ status: 403, code: 'ACCESS_DENIED' });
  });

  it('refuses the whole authorization when one scope is not the app\'s, and /v2/userinfo without openid', async () => {
    const url = new URL(`${li.origin}/oauth/v2/authorization`);
    url.search = new URLSearchParams({ response_type: 'code', client_id: APP.clientId, redirect_uri: callbackUrl, state: 's', scope: 'openid profile email w_member_social' }).toString();
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    expect(Object.fromEntries(back.searchParams)).toEqual({ state: 's', error: 'unauthorized_scope_error', error_description: 'Scope "openid" is not authorized for your application' });
    const issued = await token({ grant_type: 'authorization_code', client_id: APP.clientId, client_secret: APP.clientSecret, code: await code(), redirect_uri: callbackUrl });
    const info = await fetch(`${li.origin}/v2/userinfo`, { headers: { authorization: `Bearer ${issued.body.access_token}` } });
    expect(info.status).toBe(403);
    expect((await me(issued.body.access_token)).status).toBe(200);
  });
});
