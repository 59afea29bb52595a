// The README's snippets run as written. Each `sh` block that talks to the API runs in bash (curl, jq) against a
// fresh server, in the README's order, with KEY and API set as its first block says; a `read -rp` step ("open
// it in a browser, type …, press Allow") is done by a test browser with the username the block names, and Enter is
// pressed for it. The `js` webhook receiver runs as written too and verifies a real delivery. A README edit
// that breaks a snippet fails here.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser, type Hop } from './helpers/browser.ts';
import { makePng } from './helpers/media-fixtures.ts';
import { settledPost } from './helpers/posts.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const README = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');

interface Block {
  lang: string;
  code: string;
  /** The heading the block is under, to name its test. */
  heading: string;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^#{2,3} /.test(lines[i])) heading = lines[i].replace(/^#+ /, '');
    const open = /^```(\w+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = ++i;
    while (i < lines.length && !lines[i].startsWith('```')) i++;
    out.push({ lang: open[1], code: lines.slice(start, i).join('\n'), heading });
  }
  return out;
}

// The blocks that call the API; the others are the two commands CI itself runs (`npm install && npm start`, `npm test`).
const apiBlocks = blocks(README).filter((b) => b.lang === 'sh' && b.code.includes('$API'));

let t: TestServer;
let dir: string;

beforeAll(async () => {
  t = await startTestServer({}, { worker: true });
  dir = mkdtempSync(join(tmpdir(), 'sb-readme-'));
  writeFileSync(join(dir, 'cat.png'), makePng(800, 600));
  // So that the receiver snippet's `import 'standardwebhooks'` resolves as it would in the reader's project.
  symlinkSync(resolve(import.meta.dirname, '../node_modules'), join(dir, 'node_modules'));
}, 120_000);

afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What a person does in the browser at a `read -rp` step: sign in as `username`, allow, connect every profile. */
async function connectInBrowser(startUrl: string, username: string): Promise<Hop> {
  const browser = new TestBrowser();
  const ours = (url: string) => new URL(url).origin === t.url;
  const consent = await browser.follow(startUrl, (loc) => !ours(loc));
  expect(consent.body, consent.body.slice(0, 300)).toContain('Username');
  const action = /<form[^>]*action="([^"]+)"/.exec(consent.body)?.[1] ?? consent.url;
  let hop = await browser.follow(new URL(action.replace(/&amp;/g, '&'), consent.url).toString(), (loc) => !ours(loc), { form: { username, decision: 'allow' } });
  if (hop.status === 200 && hop.url.includes('/connect/select')) {
    const session = /name="session" value="([^"]+)"/.exec(hop.body)![1];
    const selected = [...hop.body.matchAll(/name="selected" value="([^"]+)"/g)].map((m) => m[1]);
    hop = await browser.follow(`${t.url}/connect/select`, (loc) => !ours(loc), { form: { session, selected } });
  }
  // Back at the client's redirect_uri with status=success, or on our hosted "connected" page.
  if (hop.location) expect(new URL(hop.location).searchParams.get('status'), hop.location).toBe('success');
  else expect(hop.status, hop.body.slice(0, 300)).toBe(200);
  return hop;
}

/** Runs a block in bash; curl fails on any 4xx/5xx. Returns its output. */
async function runBlock(code: string): Promise<string> {
  const usernames = [...code.matchAll(/type "(\w+)"/g)].map((m) => m[1]);
  // KEY and API come from the environment, as the first block's two lines set them.
  const script = code
    .split('\n')
    .filter((line) => !/^(KEY|API)=/.test(line))
    .join('\n');
  const prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n';
  const child = spawn('bash', ['-c', prelude + script], { cwd: dir, env: { ...process.env, KEY: t.apiKey, API: t.url }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let pending = '';
  const steps: Promise<void>[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      // curl prints no newline after an answer: the echoed URL may follow it on the same line.
      const startUrl = line.match(new RegExp(`${t.url}/connect/\\S+`))?.[0];
      if (!startUrl) continue;
      const username = usernames.shift();
      steps.push(
        (async () => {
          expect(username, `no "type …" username in the block for ${startUrl}`).toBeDefined();
          await connectInBrowser(startUrl, username!);
          child.stdin.write('\n');
        })().catch((err: unknown) => {
          child.kill();
          throw err;
        }),
      );
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  // A block that waits for input it will never get is a failure to see, not a hung test.
  const stuck = setTimeout(() => child.kill(), 60_000);
  const code_ = await new Promise<number | null>((done) => child.once('close', done));
  clearTimeout(stuck);
  // A browser step that failed ended the block: its error is the one to see.
  await Promise.all(steps);
  expect(code_, `the block failed:\n${stderr}\n--- output ---\n${stdout}`).toBe(0);
  return stdout;
}

/** The JSON answers in a block's output (curl ends none with a newline, so they may share a line with the next). */
function jsonDocuments(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"' && depth > 0) inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if ((c === '}' || c === ']') && depth > 0 && --depth === 0) {
      try {
        out.push(JSON.parse(text.slice(start, i + 1)));
      } catch {
        /* brackets in plain text */
      }
    }
  }
  return out;
}

describe('README snippets run as written', () => {
  it('has the walkthroughs this test expects', () => {
    expect(apiBlocks.map((b) => b.heading)).toEqual(
      expect.arrayContaining(['Five minutes with the sandbox network', 'Offline, right after `npm start`', 'Workspaces and the Ocoya surface', 'Webhooks']),
    );
  });

  for (const [i, block] of apiBlocks.entries()) {
    it(`block ${i + 1} (${block.heading})`, async () => {
      const out = await runBlock(block.code);
      // Every answer the block printed is a success in its surface's shape.
      const answers = jsonDocuments(out);
      expect(answers.length).toBeGreaterThan(0);
      for (const body of answers) if (body && typeof body === 'object' && 'success' in body) expect(body.success, JSON.stringify(body)).toBe(true);
      if (block.heading === 'Five minutes with the sandbox network') {
        expect(out).toContain('"tenant_id":"customer_42"');
        expect(out).toMatch(/"username":"alice/);
      }
      if (block.heading === 'Offline, right after `npm start`') {
        const posts = await t.api('GET', '/v1/posts?limit=100');
        const post = posts.body.data.find((p: { containers: { content: string }[] }) => p.containers[0]?.content === 'Hello from Switchboard');
        expect(post).toBeDefined();
        expect((await settledPost(t, post.id)).status).toBe('published');
        const timeline = await fetch(`${t.url}/sandbox/@solo_ann`).then((r) => r.text());
        expect(timeline).toContain('Hello from Switchboard');
        expect(timeline).toContain('…and a reply under it');
      }
      if (block.heading === 'Workspaces and the Ocoya surface') {
        const posts = await t.api('GET', '/v1/posts?limit=100');
        const post = posts.body.data.find((p: { containers: { content: string }[] }) => p.containers[0]?.content === 'Hello from the Ocoya surface');
        expect(post.workspace_id).not.toBe(null);
        expect((await settledPost(t, post.id)).status).toBe('published');
      }
    }, 120_000);
  }

  it('the TypeScript client quickstart runs against the server', async () => {
    const quickstart = blocks(README).find((b) => b.lang === 'ts' && b.code.includes("from '@switchboard/client'"));
    expect(quickstart).toBeDefined();
    writeFileSync(join(dir, 'quickstart.mts'), quickstart!.code);
    const child = spawn(process.execPath, ['--import', 'tsx', 'quickstart.mts'], { cwd: dir, env: { ...process.env, SWITCHBOARD_URL: t.url, SWITCHBOARD_API_KEY: t.apiKey } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    const code = await new Promise<number | null>((done) => child.once('close', done));
    expect(code, err + out).toBe(0);
    expect(out).toContain(`connect more at ${t.url}/connect/`);
    const postId = /^(\S+) (publishing|published|pending)$/m.exec(out)?.[1];
    expect(postId, out).toBeDefined();
    const settled = await settledPost(t, postId!);
    expect(settled.status, JSON.stringify(settled)).toBe('published');
    expect(out).toMatch(/^400 invalid_payload \{.*500/m);
  }, 60_000);

  it('the webhook receiver verifies a real delivery and refuses a forged one', async () => {
    const receiver = blocks(README).find((b) => b.lang === 'js' && b.code.includes("from 'standardwebhooks'"));
    expect(receiver).toBeDefined();
    writeFileSync(join(dir, 'receiver.mjs'), receiver!.code);
    const port = 40_000 + Math.floor(Math.random() * 20_000);
    const endpoint = await t.api('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/hooks/switchboard`, events: ['account.connected'] });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    const child = spawn('node', ['receiver.mjs'], { cwd: dir, env: { ...process.env, PORT: String(port), SWITCHBOARD_WEBHOOK_SECRET: endpoint.body.data.secret } });
    try {
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      // Listening once it answers (a forged delivery: no signature → 400).
      let forged = 0;
      for (let i = 0; i < 100 && !forged; i++) {
        forged = await fetch(`http://127.0.0.1:${port}/hooks/switchboard`, { method: 'POST', body: '{"type":"account.connected"}' }).then(
          (r) => r.status,
          () => 0,
        );
        if (!forged) await new Promise((r) => setTimeout(r, 100));
      }
      expect(forged).toBe(400);
      const sent = await t.api('POST', `/v1/webhooks/${endpoint.body.data.id}/test`);
      expect(sent.status).toBe(202);
      for (let i = 0; i < 200 && !out.includes('webhook.test'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/^webhook\.test \S+$/m);
    } finally {
      child.kill();
    }
  }, 60_000);
});
