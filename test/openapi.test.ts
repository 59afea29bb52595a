// /openapi.json as a complete API reference: every public operation named, described, tagged, with examples for its
// request and each response, and its error responses; no internal route; the webhook events; examples valid against
// their own schemas; /docs renders it offline. (That every response the suite receives matches the document is
// checked by the server itself in test mode: src/http/openapi.ts#checkResponsesAgainstDocument, on in every
// startTestServer; the last test here shows it refusing a response that does not match.)
import Fastify from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../src/webhooks/events.ts';
import { checkResponsesAgainstDocument, documentedOnly, openApiTransform, serializerCompiler, UNDOCUMENTED_RESPONSE } from '../src/http/openapi.ts';
import { nativeSurfaceDocs } from '../src/http/errors.ts';
import { launchChromium } from './helpers/browser.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import fastifySwagger from '@fastify/swagger';
import { jsonSchemaTransformObject, validatorCompiler } from 'fastify-type-provider-zod';

let t: TestServer;
let doc: any;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = () =>
  Object.entries<any>(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method], ocoya: path.startsWith('/api/_public/v1/') })),
  );

beforeAll(async () => {
  t = await startTestServer();
  doc = await (await fetch(`${t.url}/openapi.json`)).json();
});
afterAll(() => t?.close());

describe('every public operation', () => {
  it('has a unique camelCase operationId (verb first; ocoya… on the Ocoya surface), a summary, a description and one known tag', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThanOrEqual(58);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const tagNames = doc.tags.map((tag: any) => tag.name);
    for (const { path, method, op, ocoya } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, where).toMatch(ocoya ? /^ocoya(Get|List|Create|Update|Delete)[A-Z][A-Za-z]*$/ : /^(get|list|create|update|delete|configure|finalize|disconnect|check|connect|revoke|enable|test|resend|confirm|import|cancel|retry|replace|clear|proxy)[A-Z][A-Za-z]*$/);
      expect(op.summary, where).toBeTruthy();
      expect(op.description?.length, where).toBeGreaterThan(20);
      expect(op.tags, where).toHaveLength(1);
      expect(tagNames, where).toContain(op.tags[0]);
    }
  });

  it('has an example request where it takes a body, and an example for each response', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      if (op.requestBody) expect(op.requestBody.content['application/json'].example, `${where} request`).toBeDefined();
      for (const [status, response] of Object.entries<any>(op.responses)) {
        expect(response.description, `${where} ${status}`).not.toBe('Default Response');
        expect(response.content?.['application/json']?.example, `${where} ${status} example`).toBeDefined();
      }
    }
  });

  it('documents its error responses in its surface’s error shape', () => {
    for (const { path, method, op, ocoya } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      const expected = ['400', '401', '429', ...(ocoya ? ['403'] : []), ...(path.includes('{') ? ['404'] : []), ...(method === 'post' ? ['409'] : [])];
      expect(Object.keys(op.responses), where).toEqual(expect.arrayContaining(expected));
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content['application/json'].schema, `${where} ${status}`).toEqual({ $ref: ocoya ? '#/components/schemas/OcoyaError' : '#/components/schemas/Error' });
      }
    }
    expect(doc.components.schemas.Error.required).toEqual(expect.arrayContaining(['success', 'error', 'code']));
    expect(doc.components.schemas.OcoyaError.required).toEqual(['message']);
  });

  it('is the public API only: no browser page, callback, dashboard, sandbox, public media, signal or local-admin route', () => {
    const paths = Object.keys(doc.paths);
    for (const path of paths) expect(path, path).toMatch(/^\/(v1|api\/_public\/v1)\//);
    expect(paths.filter((p) => p.startsWith('/v1/local'))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['/v1/posts', '/v1/social-accounts', '/api/_public/v1/post']));
  });
});

describe('the webhooks', () => {
  it('documents each event under the top-level `webhooks` with its payload and an example', () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      const op = doc.webhooks[type].post;
      expect(op.summary, type).toBeTruthy();
      const media = op.requestBody.content['application/json'];
      expect(media.example.type, type).toBe(type);
      expect(media.schema, type).toBeDefined();
    }
  });
});

describe('the examples', () => {
  it('are valid against their own schemas', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema(doc, 'openapi');
    const escape = (p: string) => p.replace(/~/g, '~0').replace(/\//g, '~1');
    let checked = 0;
    const check = (pointer: string[], media: any) => {
      if (media?.example === undefined) return;
      const validate = ajv.compile({ $ref: 'openapi#/' + [...pointer, 'schema'].map(escape).join('/') });
      expect(validate(media.example), `${pointer.join(' ')}: ${JSON.stringify(validate.errors)}`).toBe(true);
      checked++;
    };
    for (const { path, method, op } of operations()) {
      if (op.requestBody) check(['paths', path, method, 'requestBody', 'content', 'application/json'], op.requestBody.content['application/json']);
      for (const status of Object.keys(op.responses)) check(['paths', path, method, 'responses', status, 'content', 'application/json'], op.responses[status].content?.['application/json']);
    }
    for (const type of Object.keys(doc.webhooks)) check(['webhooks', type, 'post', 'requestBody', 'content', 'application/json'], doc.webhooks[type].post.requestBody.content['application/json']);
    expect(checked).toBeGreaterThan(300);
  });

  it('would catch an example that breaks its schema', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(doc, 'openapi');
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/SocialAccount' });
    const example = doc.paths['/v1/social-accounts/{id}'].get.responses['200'].content['application/json'].example.data;
    expect(validate(example)).toBe(true);
    expect(validate({ ...example, status: 'asleep' })).toBe(false);
    expect(validate({ ...example, extra: 1 })).toBe(false);
  });
});

describe('/docs', () => {
  it('serves the reference UI, which renders the operations in Chromium without a request off this server', async () => {
    const page = await fetch(`${t.url}/docs/`);
    expect(page.status).toBe(200);
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      const foreign: string[] = [];
      const failed: string[] = [];
      tab.on('request', (req) => {
        if (!req.url().startsWith(t.url) && !req.url().startsWith('data:')) foreign.push(req.url());
      });
      tab.on('requestfailed', (req) => failed.push(req.url()));
      await tab.goto(`${t.url}/docs/`);
      await tab.getByText('/v1/posts/{id}/retry').first().waitFor({ timeout: 20_000 });
      expect(await tab.getByText('Social accounts').count()).toBeGreaterThan(0);
      expect(foreign).toEqual([]);
      expect(failed).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe('the response check (test mode)', () => {
  it('answers 500 and logs when a response does not match its documented schema or status', async () => {
    const app = Fastify();
    const lines: string[] = [];
    app.log.error = ((obj: unknown, msg: string) => lines.push(`${msg} ${JSON.stringify(obj)}`)) as never;
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(fastifySwagger, {
      openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } },
      transform: openApiTransform([nativeSurfaceDocs(60)]),
      transformObject: jsonSchemaTransformObject,
    });
    checkResponsesAgainstDocument(app);
    const Thing = documentedOnly(z.object({ success: z.literal(true), data: z.object({ id: z.string() }) }));
    let answer: unknown = { success: true, data: { id: 'a' } };
    let status = 200;
    app.get('/v1/things', { schema: { operationId: 'listThings', response: { 200: Thing } } }, async (_req, reply) => reply.code(status as 200).send(answer));
    await app.ready();
    const call = async () => {
      const res = await app.inject('/v1/things');
      return { status: res.statusCode, body: res.json() };
    };
    expect(await call()).toEqual({ status: 200, body: { success: true, data: { id: 'a' } } });
    answer = { success: true, data: { id: 1 } };
    expect((await call()).status).toBe(500);
    answer = { success: true, data: { id: 'a', secret: 'x' } }; // a documentedOnly schema does not strip: the check refuses it
    expect((await call()).status).toBe(500);
    answer = { success: false, error: 'No', code: 'forbidden' };
    status = 403; // not documented for this route
    expect((await call()).body.message).toContain('status 403 is not documented');
    status = 401;
    expect((await call()).status).toBe(401); // documented for every route
    expect(lines.filter((l) => l.includes(UNDOCUMENTED_RESPONSE))).toHaveLength(3);
    await app.close();
  });
});
