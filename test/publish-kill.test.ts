// Never a double post: a `switchboard worker` process killed (SIGKILL) after X has made the post but before the
// answer arrives leaves the target `publishing` with its create open. Once the dead worker's lease runs out, the next
// worker looks for the post at X, finds it, and records it — X holds exactly one copy. Needs PostgreSQL (the
// embedded database serves one process).
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { postTargets } from '../src/db/schema.ts';
import { publishDue } from '../src/publishing/engine.ts';
import { configureNetwork, connectThroughBrowser, resultOf, startServerFor } from './helpers/network-flow.ts';
import type { TestServer } from './helpers/server.ts';
import { startWorkerProcess } from './helpers/process.ts';
import { startXEmulator, X_ORIGINS, type XEmulator, type XPost } from './emulators/x.ts';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
const APP = { clientId: 'eEtDbGllbnRJZDoxOmNp', clientSecret: 'x-client-secret' };
const USER = { id: '1800000000000000000', username: 'kill_x', name: 'Kill' };
const LEASE_ENV = { SWITCHBOARD_UPSTREAM_TIMEOUT_MS: '1500', SWITCHBOARD_PUBLISH_LEASE_MS: '2000' }; // lease = max(2 s, 2 × 1.5 s) = 3 s

let x: XEmulator;
let t: TestServer;

beforeAll(async () => {
  if (!onPostgres) return;
  x = await startXEmulator({ app: APP, users: [USER] });
  t = await startServerFor(x.origin, X_ORIGINS, LEASE_ENV);
  x.allowRedirectUri(`${t.url}/oauth/x/callback`);
  await configureNetwork(t, 'x', { client_key: APP.clientId, client_secret: APP.clientSecret });
});
afterAll(async () => {
  await t?.close();
  await x?.close();
});

/** A `switchboard worker` process on the test server's database, publishing to the X emulator. */
const startWorker = () =>
  startWorkerProcess({
    DATABASE_URL: t.server.ctx.config.databaseUrl!,
    SWITCHBOARD_UPSTREAMS: JSON.stringify(Object.fromEntries(X_ORIGINS.map((o) => [o, x.origin]))),
    ...LEASE_ENV,
  });

it.skipIf(!onPostgres)('a worker killed while X holds the answer: the next worker finds the post at X instead of posting again', async () => {
  x.signIn(USER.id);
  const accountId = resultOf(await connectThroughBrowser(t, 'x')).get('account_id')!;
  const created = await t.api('POST', '/v1/posts', { content: 'Published once, whatever happens', accounts: [accountId] });
  expect(created.status).toBe(201);

  const madeAtX = new Promise<XPost>((resolve) => (x.publishing.holdNextCreate = resolve));
  const worker = startWorker();
  const post = await madeAtX; // X made the post; its answer is on the way…
  await worker.signal('SIGKILL'); // …and the worker dies before reading it

  const [open] = await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, created.body.post.id));
  expect(open.status).toBe('publishing');
  expect(open.parts[0].phase).toBe('creating');
  expect(await publishDue(t.server.ctx)).toBe(0); // still the dead worker's

  await new Promise((r) => setTimeout(r, open.leaseUntil!.getTime() - Date.now() + 100));
  expect(await publishDue(t.server.ctx)).toBe(1);
  const view = (await t.api('GET', `/v1/posts/${created.body.post.id}`)).body.post;
  expect(view.status).toBe('published');
  expect(view.socialAccounts[0]).toMatchObject({ status: 'published', platformPostId: post.id });
  expect(x.postsOf(USER.id).filter((p) => p.text === 'Published once, whatever happens')).toHaveLength(1);
}, 60_000);

it.skipIf(!onPostgres)('a worker killed while it holds a scheduled post ready: another publishes it once, soon after its instant', async () => {
  const accountId = (await t.api('GET', '/v1/social-accounts')).body.data[0].id;
  const worker = startWorker();
  // Once the worker is up (it has published a post due now), a post scheduled a few seconds ahead.
  const warmUp = await t.api('POST', '/v1/posts', { content: 'The worker is up', accounts: [accountId] });
  for (let i = 0; (await t.api('GET', `/v1/posts/${warmUp.body.post.id}`)).body.post.status !== 'published'; i++) {
    if (i > 1500) throw new Error('the worker never published');
    await new Promise((r) => setTimeout(r, 20));
  }
  const scheduledAt = new Date(Date.now() + 4_000).toISOString();
  const created = await t.api('POST', '/v1/posts', { content: 'Held by a worker that died', accounts: [accountId], scheduledAt });
  expect(created.status).toBe(201);
  const targetOf = async () => (await t.server.ctx.db.select().from(postTargets).where(eq(postTargets.postId, created.body.post.id)))[0];
  // The worker claims it ahead: still pending (editable), leased to the worker until a little past its instant.
  for (let i = 0; !(await targetOf()).leaseUntil; i++) {
    if (i > 600) throw new Error('the worker never held the post');
    await new Promise((r) => setTimeout(r, 20));
  }
  await worker.signal('SIGKILL');
  const held = await targetOf();
  expect(held.status).toBe('pending');
  expect(held.leaseUntil!.getTime()).toBeGreaterThan(Date.parse(scheduledAt));

  await new Promise((r) => setTimeout(r, held.leaseUntil!.getTime() - Date.now() + 100));
  expect(await publishDue(t.server.ctx)).toBe(1);
  const sent = x.postsOf(USER.id).filter((p) => p.text === 'Held by a worker that died');
  expect(sent).toHaveLength(1);
  expect(sent[0].createdAt.getTime()).toBeGreaterThanOrEqual(Date.parse(scheduledAt));
  expect((await t.api('GET', `/v1/posts/${created.body.post.id}`)).body.post.status).toBe('published');
}, 60_000);
