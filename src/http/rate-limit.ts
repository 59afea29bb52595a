// Per-key rate limits that hold across every server process: fixed one-minute windows counted in the shared
// database (the `rate_limits` table), or in Redis when REDIS_URL is set. Every response carries
// X-RateLimit-Limit / -Remaining / -Reset; past the limit, 429 with Retry-After.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createRequire } from 'node:module';
import { lte } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { batched } from '../db/batch.ts';
import { perDatabase, type Db } from '../db/database.ts';
import { insertRows, rawQuery } from '../db/raw.ts';
import { rateLimits } from '../db/schema.ts';

/** Counts one request of `subject`: resolves while within the limit, rejects with a RateLimiterRes past it. */
export interface RateLimiter {
  consume(subject: string): Promise<RateLimiterRes>;
}

export interface RateLimitStore {
  /** A limiter of `perMinute` requests per key and minute, namespaced by `name`. */
  limiter(name: string, perMinute: number): RateLimiter;
  /**
   * Resolves once the shared store can count (true), or after `timeoutMs` without it (false: requests are
   * then counted per process until it comes). The server waits for this before it listens: requests that
   * arrived while Redis was still connecting were counted by the per-process fallback alone, so a key's first
   * requests after a start could pass its limit.
   */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const WINDOW_MS = 60_000;

// ioredis only when REDIS_URL is set: loading it takes ~0.25 s at start (bench/footprint.ts). It is CommonJS, so a
// plain `require` keeps createRateLimitStore synchronous.
const loadIoredis = () => createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

export function createRateLimitStore(opts: { db: Db; redisUrl?: string }): RateLimitStore {
  const redis = opts.redisUrl ? new (loadIoredis().Redis)(opts.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }) : undefined;
  redis?.on('error', () => {}); // reported through the limiter's insurance fallback, not as a crash
  return {
    limiter(name, perMinute) {
      const common = { keyPrefix: `rl:${name}`, points: perMinute, duration: WINDOW_MS / 1000 };
      // If the shared store fails, fall back to a per-process counter rather than failing requests.
      const insuranceLimiter = new RateLimiterMemory(common);
      return redis
        ? new RateLimiterRedis({ ...common, storeClient: redis, insuranceLimiter })
        : databaseLimiter(opts.db, common.keyPrefix, perMinute, insuranceLimiter);
    },
    ready(timeoutMs = 5_000) {
      if (!redis || redis.status === 'ready') return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          redis.off('ready', onReady);
          resolve(ok);
        };
        const onReady = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        redis.on('ready', onReady);
      });
    },
    async close() {
      await redis?.quit().catch(() => {});
    },
  };
}

/** Numbers `first`…`last` of a key's current window, which ends at `expire` (ms since the epoch). */
interface Numbers {
  first: number;
  last: number;
  expire: number;
}

// Every API request is counted in the shared table. The increments of concurrent requests go to the database
// as one upsert (db/batch.ts), and each request still gets its exact number, as if they had come one by one:
// a key's requests in a batch get consecutive numbers ending at the new total. The table is UNLOGGED
// (migration 0001): counters are not worth a WAL flush, and a crash only forgets the current minute.
const windowCounters = perDatabase((db) =>
  batched(
    async (wanted: Array<{ key: string; points: number }>): Promise<Numbers[]> => {
      const now = new Date();
      const perKey = new Map<string, number>();
      for (const { key, points } of wanted) perKey.set(key, (perKey.get(key) ?? 0) + points);
      // Sorted, so concurrent batches from several processes lock rows in one order (no deadlock).
      const insert = insertRows(
        rateLimits,
        [...perKey].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, n]) => ({ key, points: n, expire: new Date(now.getTime() + WINDOW_MS) })),
        1,
      );
      const rows = await rawQuery<{ key: string; points: number; expire: Date }>(
        db,
        `${insert.text} on conflict (key) do update set
           points = case when rate_limits.expire <= $1 then excluded.points else rate_limits.points + excluded.points end,
           expire = case when rate_limits.expire <= $1 then excluded.expire else rate_limits.expire end
         returning key, points, expire`,
        [now.toISOString(), ...insert.params],
        { prepare: true },
      );
      const totals = new Map(rows.map((r) => [r.key, r]));
      const handedOut = new Map<string, number>();
      return wanted.map(({ key, points }) => {
        const total = totals.get(key)!;
        const before = handedOut.get(key) ?? 0;
        handedOut.set(key, before + points);
        const first = total.points - perKey.get(key)! + before + 1;
        return { first, last: first + points - 1, expire: new Date(total.expire).getTime() };
      });
    },
    // One upsert at a time: two in flight would only queue on the same hot rows' locks.
    { maxBatch: 500 },
  ),
);

// A key that sends many requests takes numbers ahead of need: one upsert then serves the next ~quarter second
// of its requests from memory, instead of every request costing a round trip to the database. Numbers taken
// ahead and not used are lost when the window ends, so across several processes a busy key may be refused
// slightly before its limit (at most RESERVE_SHARE of it per other process), never admitted past it. A key
// that sends a request now and then takes one number at a time: counted exactly as before.
const RESERVE_HORIZON_MS = 250;
const RESERVE_SHARE = 0.02;
const RATE_SAMPLE_MS = 1_000;

interface KeyState {
  /** Numbers taken and not yet handed out (next…last), in the window that ends at `expire`. */
  next: number;
  last: number;
  expire: number;
  /** Whether an upsert taking numbers ahead is in flight (one at a time per key). */
  reserving: boolean;
  /** Requests per second seen here, over the last whole sample. */
  rate: number;
  sampleStart: number;
  sampleCount: number;
}

function databaseLimiter(db: Db, keyPrefix: string, points: number, insurance: RateLimiterMemory): RateLimiter {
  const states = new LRUCache<string, KeyState>({ max: 10_000, ttl: 2 * WINDOW_MS });
  const maxAhead = Math.floor(points * RESERVE_SHARE);

  function verdict(count: number, msBeforeNext: number): RateLimiterRes {
    const res = new RateLimiterRes(Math.max(points - count, 0), msBeforeNext, count, count === 1);
    if (count > points) throw res;
    return res;
  }

  return {
    async consume(subject) {
      const key = `${keyPrefix}:${subject}`;
      const now = Date.now();
      let state = states.get(key);
      if (!state) states.set(key, (state = { next: 1, last: 0, expire: 0, reserving: false, rate: 0, sampleStart: now, sampleCount: 0 }));
      if (now - state.sampleStart >= RATE_SAMPLE_MS) {
        state.rate = (state.sampleCount * 1000) / (now - state.sampleStart);
        state.sampleStart = now;
        state.sampleCount = 0;
      }
      state.sampleCount++;

      // Numbers taken ahead only ever admit: a refusal always comes from the shared counter, so a window that
      // was reset there (or has passed) is seen at once.
      if (now < state.expire && state.next <= Math.min(state.last, points)) return verdict(state.next++, state.expire - now);

      const ahead = state.reserving ? 0 : Math.min(maxAhead, Math.floor((state.rate * RESERVE_HORIZON_MS) / 1000));
      let numbers: Numbers;
      if (ahead > 0) state.reserving = true;
      try {
        numbers = await windowCounters(db)({ key, points: 1 + ahead });
      } catch {
        return insurance.consume(subject);
      } finally {
        if (ahead > 0) state.reserving = false;
      }
      if (ahead > 0) Object.assign(state, { next: numbers.first + 1, last: numbers.last, expire: numbers.expire });
      return verdict(numbers.first, Math.max(0, numbers.expire - Date.now()));
    },
  };
}

/** Housekeeping for the worker: counters of windows that ended an hour ago (clients, keys and IPs come and go). */
export async function deleteStaleRateLimits(db: Db): Promise<number> {
  const rows = await db
    .delete(rateLimits)
    .where(lte(rateLimits.expire, new Date(Date.now() - 60 * 60 * 1000)))
    .returning({ key: rateLimits.key });
  return rows.length;
}

function setHeaders(reply: FastifyReply, limit: number, res: RateLimiterRes) {
  reply.header('x-ratelimit-limit', limit);
  reply.header('x-ratelimit-remaining', Math.max(0, res.remainingPoints));
  reply.header('x-ratelimit-reset', Math.ceil((Date.now() + res.msBeforeNext) / 1000));
}

/** Counts one request of `subject` and sets the limit headers; `false` (with Retry-After set) when past the limit. */
export async function withinLimit(reply: FastifyReply, limiter: RateLimiter, subject: string, perMinute: number): Promise<boolean> {
  return settle(reply, perMinute, limiter.consume(subject));
}

async function settle(reply: FastifyReply, perMinute: number, pending: Promise<RateLimiterRes>, onCount?: (res: RateLimiterRes) => void): Promise<boolean> {
  try {
    const res = await pending;
    onCount?.(res);
    setHeaders(reply, perMinute, res);
    return true;
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    onCount?.(err);
    setHeaders(reply, perMinute, err);
    reply.header('retry-after', Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
    return false;
  }
}

/** What this process knows of a key's window: room left at its last count, and reads running ahead of their count. */
interface Room {
  left: number;
  runningAhead: number;
}

/**
 * Adds the per-key limit to a scope; it runs after the key was verified (`req.caller`), so only real keys get
 * counters. `limitedBody` is the surface's own 429 body.
 *
 * Every request is counted before its handler can answer, and a request past the limit never gets its handler's
 * answer. A read (GET/HEAD) changes nothing, so when the key's last count left room it may run while it is being
 * counted (the count's round trip overlaps the read's instead of preceding it), and the answer waits for the
 * count: if that says the limit was passed, the answer is dropped for the 429. Such reads take their place out of
 * the room this process last saw, before they run: 200 parallel reads on a key with 5 requests left run at most 5
 * handlers ahead of their counts; the rest wait for theirs, and those past the limit never run.
 */
export function rateLimit(app: FastifyInstance, limiter: RateLimiter, perMinute: number, limitedBody: (req: FastifyRequest) => object) {
  const rooms = new LRUCache<string, Room>({ max: 10_000, ttl: WINDOW_MS });
  const counting = new WeakMap<FastifyRequest, Promise<RateLimiterRes>>();

  /** The room left after a count. Reads still running ahead were counted meanwhile or will be: keep their places. */
  const remember = (subject: string, res: RateLimiterRes) => {
    const room = rooms.get(subject) ?? { left: 0, runningAhead: 0 };
    room.left = Math.max(0, res.remainingPoints);
    rooms.set(subject, room, { ttl: Math.max(1, res.msBeforeNext) });
  };

  app.addHook('onRequest', async (req, reply) => {
    const subject = `key:${req.caller.keyId}`;
    const pending = limiter.consume(subject);
    const room = rooms.get(subject);
    if ((req.method === 'GET' || req.method === 'HEAD') && room && room.left - room.runningAhead > 0) {
      room.runningAhead++;
      // The room is updated the moment the count comes back, not when the read has answered: a read that
      // arrives meanwhile must see the place this one took.
      const counted = pending.then(
        (res) => (remember(subject, res), res),
        (err: unknown) => {
          if (err instanceof RateLimiterRes) remember(subject, err);
          throw err;
        },
      );
      void counted.finally(() => room.runningAhead--).catch(() => {});
      counted.catch(() => {}); // settled in onSend
      counting.set(req, counted);
      return;
    }
    if (!(await settle(reply, perMinute, pending, (res) => remember(subject, res)))) return reply.code(429).send(limitedBody(req));
  });

  // A callback hook, for the requests already counted (every write): an async one costs each a promise and a
  // microtask.
  app.addHook('onSend', (req, reply, payload, done) => {
    const pending = counting.get(req);
    if (!pending) return done(null, payload);
    counting.delete(req);
    settle(reply, perMinute, pending).then((within) => {
      if (within) return done(null, payload);
      reply.code(429).header('content-type', 'application/json; charset=utf-8');
      done(null, JSON.stringify(limitedBody(req)));
    }, done);
  });
}
