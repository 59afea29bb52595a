// `Idempotency-Key` on every POST (PRODUCT.md, "API hygiene"): a client that is not sure its request arrived sends
// it again with the same key, and gets the first answer again (`Idempotency-Replayed: true`) instead of a second
// organization, key, webhook endpoint or post. Keys are per organization and kept 24 hours; the same key with
// another request is a 409. Stored answers are encrypted: some carry a secret that is shown once (a new API key,
// a webhook's signing secret).
//
// Only requests that passed validation take a key (this runs as a preHandler), as Stripe does: a 400 for bad input
// can be corrected and sent again under the same key. 429s and 5xx are not kept either: nothing was done, or what
// was done is unknown to the client, and trying again is what it should do.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { and, eq, lt, lte } from 'drizzle-orm';
import type { Db } from '../db/database.ts';
import { idempotencyKeys } from '../db/schema.ts';
import type { Keyring } from '../security/keyring.ts';
import { contexts } from '../security/encrypted-columns.ts';
import { sha256 } from '../security/secrets.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** A request holds its key this long; a key whose holder died (no answer stored) can then be taken again. */
const LOCK_MS = 60_000;
const KEY = /^[\x21-\x7e]{1,255}$/;
const IN_USE = 'A request with this Idempotency-Key is still being processed: try again in a moment';


interface StoredResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** JSON with object keys sorted, so the same body sent with its keys in another order is the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface IdempotencyOptions {
  db: Db;
  keyring: Keyring;
  /** The surface's own errors: a malformed key (400), and a key reused or still in use (409). */
  invalidKey: (message: string) => Error;
  conflict: (message: string, code: string) => Error;
}

/** Adds Idempotency-Key handling to this scope's POST routes (after authentication: keys are per organization). */
export function idempotentPosts(app: FastifyInstance, opts: IdempotencyOptions) {
  const { db, keyring } = opts;
  const holding = new WeakMap<FastifyRequest, { orgId: string; key: string }>();

  async function take(orgId: string, key: string, fingerprint: string): Promise<boolean> {
    const now = new Date();
    const [taken] = await db
      .insert(idempotencyKeys)
      .values({ orgId, key, fingerprint, lockedUntil: new Date(now.getTime() + LOCK_MS), expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS) })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    return Boolean(taken);
  }

  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'POST') return;
    const header = req.headers['idempotency-key'];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] : header;
    if (!KEY.test(key)) throw opts.invalidKey('Idempotency-Key must be 1 to 255 printable characters, without spaces');
    const { orgId } = req.caller;
    const fingerprint = sha256(`${req.method} ${req.url}\n${canonicalJson(req.body ?? null)}`);

    for (let attempt = 0; attempt < 2; attempt++) {
      if (await take(orgId, key, fingerprint)) {
        holding.set(req, { orgId, key });
        return;
      }
      const [row] = await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.orgId, orgId), eq(idempotencyKeys.key, key)));
      if (!row) continue; // removed meanwhile (expired, or its request failed): take it now
      const now = Date.now();
      if (row.expiresAt.getTime() <= now) {
        await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.orgId, orgId), eq(idempotencyKeys.key, key), lte(idempotencyKeys.expiresAt, new Date(now))));
        continue;
      }
      if (row.fingerprint !== fingerprint) {
        throw opts.conflict('This Idempotency-Key was already used for a different request: use a new key for a new request', 'idempotency_key_reused');
      }
      if (row.responseEnc) {
        const stored = JSON.parse(keyring.decrypt(row.responseEnc, contexts.idempotencyResponse(orgId, key))) as StoredResponse;
        if (stored.contentType) reply.header('content-type', stored.contentType);
        return reply.code(stored.status).header('idempotency-replayed', 'true').send(stored.body);
      }
      if (row.lockedUntil && row.lockedUntil.getTime() > now) {
        reply.header('retry-after', '1');
        throw opts.conflict(IN_USE, 'idempotency_key_in_use');
      }
      // Its holder died before answering: take the key over, unless someone else just did.
      const [takenOver] = await db
        .update(idempotencyKeys)
        .set({ lockedUntil: new Date(now + LOCK_MS) })
        .where(and(eq(idempotencyKeys.orgId, orgId), eq(idempotencyKeys.key, key), lt(idempotencyKeys.lockedUntil, new Date(now))))
        .returning({ key: idempotencyKeys.key });
      if (takenOver) {
        holding.set(req, { orgId, key });
        return;
      }
    }
    throw opts.conflict(IN_USE, 'idempotency_key_in_use');
  });

  // The answer is stored before it is sent: a client that sees it and retries anyway gets the same one.
  // A callback hook, for the requests that hold no key (most): an async one costs each a promise and a microtask.
  app.addHook('onSend', (req, reply, payload, done) => {
    const held = holding.get(req);
    if (!held) return done(null, payload);
    holding.delete(req);
    store(held, reply, payload).then((sent) => done(null, sent), done);
  });

  async function store(held: { orgId: string; key: string }, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const where = and(eq(idempotencyKeys.orgId, held.orgId), eq(idempotencyKeys.key, held.key));
    const status = reply.statusCode;
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
    if (status >= 500 || status === 429 || body === undefined) {
      await db.delete(idempotencyKeys).where(where);
      return payload;
    }
    const stored: StoredResponse = { status, contentType: reply.getHeader('content-type') as string | undefined, body };
    await db
      .update(idempotencyKeys)
      .set({ responseStatus: status, responseEnc: keyring.encrypt(JSON.stringify(stored), contexts.idempotencyResponse(held.orgId, held.key)), lockedUntil: null })
      .where(where);
    return payload;
  }
}

/** Housekeeping for the worker: keys past their 24 hours. */
export async function deleteExpiredIdempotencyKeys(db: Db): Promise<number> {
  const rows = await db.delete(idempotencyKeys).where(lte(idempotencyKeys.expiresAt, new Date())).returning({ key: idempotencyKeys.key });
  return rows.length;
}
