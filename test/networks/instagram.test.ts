// Instagram through our HTTP API only, against the Meta emulator, both ways: through Facebook Login (business
// accounts linked to Pages; the app requires an appsecret_proof on every graph.facebook.com call) and through
// Instagram Login (no Page; 60-day tokens refreshed once a day old; Business Use Case throttling waited out).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../helpers/browser.ts';
import { accountRow, configureNetwork, connectThroughBrowser, expireSoon, REDIRECT_URI, resultOf, startServerFor } from '../helpers/network-flow.ts';
import type { TestServer } from '../helpers/server.ts';
import { META_ORIGINS, metaFailures, startMetaEmulator, type MetaEmulator, type MetaPage } from '../emulators/meta.ts';

const FACEBOOK_APP = { id: '710000000000002', secret: 'facebook-app-secret' };
const INSTAGRAM_APP = { id: '990000000000002', secret: 'instagram-app-secret' };
const DAY = 24 * 3600 * 1000;

const page = (id: string, instagram?: string): MetaPage => ({
  id,
  name: `Page ${id}`,
  ...(instagram ? { instagram: { id: `ig-${instagram}`, username: instagram, name: `${instagram} name` } } : {}),
});
const plainPages = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => page(`${prefix}-${i + 1}`));

let meta: MetaEmulator;
let t: TestServer;
let callbackUrl: string;

beforeAll(async () => {
  meta = await startMetaEmulator({
    facebookApp: FACEBOOK_APP,
    instagramApp: INSTAGRAM_APP,
    facebookUsers: [
      // Two linked accounts, one of them on the second Graph page of /me/accounts.
      { id: 'gina', name: 'Gina', appRole: true, pages: [page('gina-1', 'gina.shop'), ...plainPages('gina-plain', 25), page('gina-2', 'gina.studio')] },
      { id: 'hugo', name: 'Hugo', appRole: true, pages: [page('hugo-1', 'hugo.cafe')] },
      { id: 'ivy', name: 'Ivy', appRole: true, pages: [page('ivy-1', 'ivy.books')] },
      { id: 'nolink', name: 'No Link', appRole: true, pages: plainPages('nolink', 2) },
    ],
    instagramUsers: [
      { userId: '17841400000000101', username: 'jade.makes', name: 'Jade', accountType: 'Business' },
      { userId: '17841400000000102', username: 'kai.creates', name: 'Kai', accountType: 'Media_Creator' },
      { userId: '17841400000000103', username: 'lou.refresh', name: 'Lou', accountType: 'Business' },
      { userId: '17841400000000104', username: 'max.errors', name: 'Max', accountType: 'Business' },
      { userId: '17841400000000105', username: 'nina.personal', name: 'Nina', accountType: 'Personal' },
    ],
  });
  t = await startServerFor(meta.origin, META_ORIGINS);
  callbackUrl = `${t.url}/oauth/instagram/callback`;
  meta.allowRedirectUri(callbackUrl);
});
afterAll(async () => {
  await t?.close();
  await meta?.close();
});

async function ocoyaConnectionUrl() {
  const headers = { 'x-api-key': t.apiKey };
  const [workspace] = (await (await fetch(`${t.url}/api/_public/v1/workspaces`, { headers })).json()) as any[];
  const res = await fetch(`${t.url}/api/_public/v1/social-profiles/connection-url?workspaceId=${workspace.id}&provider=instagram`, { headers });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, string>;
}

async function dialogOf(): Promise<URL> {
  const res = await t.api('POST', '/v1/social-networks/instagram/auth-url', { redirect_uri: REDIRECT_URI });
  const hop = await new TestBrowser().request(res.body.data.auth_url);
  return new URL(hop.location!);
}

const account = async (id: string) => (await t.api('GET', `/v1/social-accounts/${id}`)).body.data;

describe('through Facebook Login (the default)', () => {
  beforeAll(async () => {
    const config = await configureNetwork(t, 'instagram', { client_key: FACEBOOK_APP.id, client_secret: FACEBOOK_APP.secret });
    expect(config.scopes).toEqual(['instagram_basic', 'instagram_content_publish', 'pages_show_list', 'pages_read_engagement', 'business_management']);
  });

  it('Ocoya reports authProvider "facebook", and the browser goes to the Facebook dialog', async () => {
    expect(await ocoyaConnectionUrl()).toMatchObject({ provider: 'instagram', authProvider: 'facebook', callbackUrl });
    const dialog = await dialogOf();
    expect(dialog.pathname).toBe('/v26.0/dialog/oauth');
    expect(dialog.searchParams.get('client_id')).toBe(FACEBOOK_APP.id);
    expect(dialog.searchParams.get('scope')).toBe('instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement,business_management');
    expect(dialog.searchParams.get('redirect_uri')).toBe(callbackUrl);
  });

  it('offers each Page\'s linked business account (across Graph pages) and connects the chosen ones', async () => {
    meta.signInFacebook('gina');
    const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-gina', selection: 'headless' }));
    const pending = await t.api('GET', `/v1/social-accounts/pending/${params.get('session')}`);
    expect(pending.body.data.availablePages.map((p: any) => [p.id, p.type, p.username])).toEqual([
      ['ig-gina.shop', 'business', 'gina.shop'],
      ['ig-gina.studio', 'business', 'gina.studio'],
    ]);
    const done = await t.api('POST', `/v1/social-accounts/pending/${params.get('session')}/finalize`, { selectedPageIds: ['ig-gina.studio'] });
    expect(done.body.connectedAccounts[0]).toMatchObject({
      network: 'instagram',
      network_unique_id: 'ig-gina.studio',
      username: 'gina.studio',
      nickname: 'gina.studio name',
      account_type: 'business',
      token_expires_at: null,
      tenant_id: 'tenant-gina',
      status: 'active',
    });
    expect(done.body.connectedAccounts[0].profile_picture_url).toMatch(/^https:/);
  });

  it('a single business account connects without a selection step; again keeps the id; health passes', async () => {
    const connectHugo = async () => {
      meta.signInFacebook('hugo');
      const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-hugo' }));
      expect(params.get('status')).toBe('success');
      expect(params.get('username')).toBe('hugo.cafe');
      return params.get('account_id')!;
    };
    const id = await connectHugo();
    expect(await connectHugo()).toBe(id);
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
    // Page tokens are not revoked on disconnect: that would end every other account of the same login.
    expect((await t.api('DELETE', `/v1/social-accounts/${id}`)).body.data.status).toBe('disconnected');
    expect(meta.state.revokedUsers).not.toContain('hugo');
  });

  it('a grant removed at Facebook makes the account need reauthorization', async () => {
    meta.signInFacebook('ivy');
    const id = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-ivy' })).get('account_id')!;
    meta.revokeFacebookUser('ivy');
    const health = await t.api('GET', `/v1/social-accounts/${id}/health`);
    expect(health.body.data.healthy).toBe(false);
    expect(await account(id)).toMatchObject({ status: 'reauth_required' });
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(409);
  });

  it('no linked business account: plain words', async () => {
    meta.signInFacebook('nolink');
    const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-nolink' }));
    expect(params.get('status')).toBe('error');
    expect(params.get('error_description')).toBe(
      'No Instagram business or creator account linked to a Facebook Page was shared. Switch the Instagram account to Business or Creator and link it to a Facebook Page, then connect again.',
    );
  });

  it('a declined Instagram permission is named', async () => {
    meta.signInFacebook('hugo', { decline: ['instagram_content_publish'] });
    const params = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-declined' }));
    expect(params.get('error_description')).toMatch(/"instagram_content_publish" was declined/);
  });
});

describe('through Instagram Login', () => {
  beforeAll(async () => {
    const config = await configureNetwork(t, 'instagram', { client_key: INSTAGRAM_APP.id, client_secret: INSTAGRAM_APP.secret, options: { login: 'instagram' } });
    expect(config.scopes).toEqual(['instagram_business_basic', 'instagram_business_content_publish']);
  });

  async function connectInstagram(userId: string, tenant: string) {
    meta.signInInstagram(userId);
    return resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: tenant }));
  }

  it('Ocoya reports authProvider "instagram", and the browser goes to Instagram\'s authorization window', async () => {
    expect(await ocoyaConnectionUrl()).toMatchObject({ provider: 'instagram', authProvider: 'instagram', callbackUrl });
    const dialog = await dialogOf();
    expect(dialog.pathname).toBe('/oauth/authorize');
    expect(Object.fromEntries(dialog.searchParams)).toEqual({
      client_id: INSTAGRAM_APP.id,
      redirect_uri: callbackUrl,
      response_type: 'code',
      scope: 'instagram_business_basic,instagram_business_content_publish',
      state: expect.any(String),
    });
  });

  it('connects a business account (wrapped token response) and a creator account (flat response)', async () => {
    const jade = await connectInstagram('17841400000000101', 'tenant-jade');
    expect(jade.get('status')).toBe('success');
    expect(await account(jade.get('account_id')!)).toMatchObject({
      network_unique_id: '17841400000000101',
      username: 'jade.makes',
      nickname: 'Jade',
      account_type: 'business',
      scopes: ['instagram_business_basic', 'instagram_business_content_publish'],
    });
    expect(Date.parse((await account(jade.get('account_id')!)).token_expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    // The code went to api.instagram.com as a form, then the 1-hour token was exchanged for a 60-day one.
    const exchange = meta.state.calls.find((c) => c.path === '/oauth/access_token' && c.method === 'POST')!;
    expect(exchange.body).toMatchObject({ client_id: INSTAGRAM_APP.id, client_secret: INSTAGRAM_APP.secret, grant_type: 'authorization_code', redirect_uri: callbackUrl });
    expect(meta.state.calls.some((c) => c.path === '/access_token' && c.query.grant_type === 'ig_exchange_token')).toBe(true);

    meta.state.instagramTokenShape = 'flat';
    const kai = await connectInstagram('17841400000000102', 'tenant-kai');
    meta.state.instagramTokenShape = 'wrapped';
    expect(await account(kai.get('account_id')!)).toMatchObject({ username: 'kai.creates', account_type: 'creator' });
  });

  it('a personal account: plain words', async () => {
    const params = await connectInstagram('17841400000000105', 'tenant-nina');
    expect(params.get('status')).toBe('error');
    expect(params.get('error_description')).toMatch(/^This Instagram account is a personal account\./);
  });

  it('refreshes with ig_refresh_token once the token is a day old, and uses only the new token afterwards', async () => {
    const id = (await connectInstagram('17841400000000103', 'tenant-lou')).get('account_id')!;
    const before = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;

    // Younger than a day: a forced refresh (health after a 190) leaves the token alone instead of asking Instagram.
    meta.failNext('instagram-graph', metaFailures.passwordChanged());
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data).toMatchObject({ healthy: true, status: 'active' });
    expect(meta.state.calls.some((c) => c.path === '/refresh_access_token')).toBe(false);

    meta.ageInstagramTokens(25 * 3600 * 1000);
    await expireSoon(t, id);
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.access_token).not.toBe(before);
    expect(Date.parse(res.body.data.expires_at)).toBeGreaterThan(Date.now() + 59 * DAY);
    const refresh = meta.state.calls.filter((c) => c.path === '/refresh_access_token');
    expect(refresh.map((c) => c.query.access_token)).toEqual([before]);

    const callsBefore = meta.state.calls.length;
    expect((await t.api('GET', `/v1/social-accounts/${id}/health`)).body.data.healthy).toBe(true);
    const later = meta.state.calls.slice(callsBefore);
    expect(later.map((c) => c.authorization)).toEqual([`Bearer ${res.body.data.access_token}`]);
  });

  it('refresh errors: 5xx → 503 and active; code 190 → 409 and reauth_required', async () => {
    const id = (await connectInstagram('17841400000000104', 'tenant-max')).get('account_id')!;
    meta.ageInstagramTokens(25 * 3600 * 1000);
    await expireSoon(t, id);
    meta.failNext('instagram-token', metaFailures.serverError());
    expect((await t.api('POST', `/v1/social-accounts/${id}/token`)).status).toBe(503);
    expect(await account(id)).toMatchObject({ status: 'active' });

    meta.failNext('instagram-token', metaFailures.passwordChanged());
    const dead = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(dead.status).toBe(409);
    expect(dead.body.message).toMatch(/password was changed/);
    expect(await account(id)).toMatchObject({ status: 'reauth_required' });
  });

  it('a Business Use Case throttle (80002) on refresh: 503, still active, next try after estimated_time_to_regain_access', async () => {
    const id = (await connectInstagram('17841400000000104', 'tenant-max-buc')).get('account_id')!;
    meta.ageInstagramTokens(25 * 3600 * 1000);
    await expireSoon(t, id);
    meta.failNext('instagram-token', metaFailures.businessUseCaseThrottled(80002, 45));
    const res = await t.api('POST', `/v1/social-accounts/${id}/token`);
    expect(res.status).toBe(503);
    expect(res.body.message).toMatch(/^Instagram is limiting requests for this account's business for now\. Access returns in about 45 minutes\./);
    expect(await account(id)).toMatchObject({ status: 'active' });
    const row = await accountRow(t, id);
    // The backoff is at least what Meta said (45 minutes), not the 30-second first retry.
    expect(row.nextRefreshAt!.getTime()).toBeGreaterThanOrEqual(Date.now() + 44 * 60_000);
    expect(row.lastError).toMatch(/\(#80002\)/);
  });

  it('errors during the callback: cancelled, and Instagram\'s own text', async () => {
    meta.signInInstagram('17841400000000101', { deny: true });
    const denied = resultOf(await connectThroughBrowser(t, 'instagram', { tenant_id: 'tenant-deny' }));
    expect(denied.get('error')).toBe('access_denied');

    meta.failNext('instagram-token', { status: 400, body: { error_type: 'OAuthException', code: 400, error_message: 'Invalid authorization code' } });
    const refused = await connectInstagram('17841400000000101', 'tenant-refused');
    expect(refused.get('status')).toBe('error');
    expect(refused.get('error_description')).toBe('Instagram said: Invalid authorization code');
  });

  it('the emulator wants a form POST for the code and a day-old token for a refresh', async () => {
    const json = await fetch(`${meta.origin}/oauth/access_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: INSTAGRAM_APP.id, client_secret: INSTAGRAM_APP.secret, grant_type: 'authorization_code', code: 'x', redirect_uri: callbackUrl }),
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as any).error_message).toMatch(/x-www-form-urlencoded/);

    const id = (await connectInstagram('17841400000000101', 'tenant-young')).get('account_id')!;
    const token = (await t.api('POST', `/v1/social-accounts/${id}/token`)).body.data.access_token;
    const young = await fetch(`${meta.origin}/refresh_access_token?grant_type=ig_refresh_token&access_token=${token}`);
    expect(young.status).toBe(400);
    expect(((await young.json()) as any).error.message).toMatch(/24 hours/);
  });
});
