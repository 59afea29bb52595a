// Per-key rate limits that hold across every server process: fixed one-minute windows counted in the shared
// database (the `rate_limits` table), or in Redis when REDIS_URL is set. Every response carries
// X-RateLimit-Limit / -Remaining / -Reset; past the limit, 429 with Retry-After.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { lte } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { batched } from '../db/batch.ts';
import { perDatabase, type Db } from '../db/database.ts';
import { insertValues, rawQuery } from '../db/raw.ts';
import { rateLimits } from '../db/schema.ts';
import { presentedKeyHash } from './auth.ts';

/** Counts one request of `subject`: resolves while within the limit, rejects with a RateLimiterRes past it. */
export interface RateLimiter {
  consume(subject: string): Promise<RateLimiterRes>;
}

export interface RateLimitStore {
  /** A limiter of `perMinute` requests per key and minute, namespaced by `name`. */
  limiter(name: string, perMinute: number): RateLimiter;
  close(): Promise<void>;
}

const WINDOW_MS = 60_000;

export function createRateLimitStore(opts: { db: Db; redisUrl?: string }): RateLimitStore {
  const redis = opts.redisUrl ? new Redis(opts.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }) : undefined;
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
    async close() {
      await redis?.quit().catch(() => {});
    },
  };
}

interface Counted {
  /** This request's number in the key's current window (1 = first). */
  count: number;
  msBeforeNext: number;
}

// Every API request bumps a counter. The increments of concurrent requests go to the database as one upsert
// (db/batch.ts), and each request still gets its exact number, as if they had come one by one: the i-th of a
// key's n requests in a batch is number total - n + i. The table is UNLOGGED (migration 0001): counters are
// not worth a WAL flush, and a crash only forgets the current minute.
const windowCounters = perDatabase((db) =>
  batched(
    async (keys: string[]): Promise<Counted[]> => {
      const now = new Date();
      const perKey = new Map<string, number>();
      for (const key of keys) perKey.set(key, (perKey.get(key) ?? 0) + 1);
      // Sorted, so concurrent batches from several processes lock rows in one order (no deadlock).
      const insert = insertValues(
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
      );
      const totals = new Map(rows.map((r) => [r.key, r]));
      const numbered = new Map<string, number>();
      return keys.map((key) => {
        const total = totals.get(key)!;
        const before = numbered.get(key) ?? 0;
        numbered.set(key, before + 1);
        return { count: total.points - perKey.get(key)! + before + 1, msBeforeNext: Math.max(0, new Date(total.expire).getTime() - Date.now()) };
      });
    },
    // One upsert at a time: two in flight would only queue on the same hot rows' locks.
    { maxBatch: 500 },
  ),
);

function databaseLimiter(db: Db, keyPrefix: string, points: number, insurance: RateLimiterMemory): RateLimiter {
  return {
    async consume(subject) {
      let counted: Counted;
      try {
        counted = await windowCounters(db)(`${keyPrefix}:${subject}`);
      } catch {
        return insurance.consume(subject);
      }
      const res = new RateLimiterRes(Math.max(points - counted.count, 0), counted.msBeforeNext, counted.count, counted.count === 1);
      if (counted.count > points) throw res;
      return res;
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

/**
 * Adds the limit to a scope, counted per API key (per client address when no key is sent). `limitedBody` is
 * the surface's own 429 body.
 *
 * A read (GET/HEAD) changes nothing, so when the caller's last count left room it runs while its request is
 * being counted, and the answer waits for the count: the count's round trip overlaps the read's instead of
 * preceding it. If the count says the limit was passed, the read's answer is dropped for the 429. A caller
 * with no room left (or not yet seen) is counted first, so a client past its limit never gets reads run.
 */
export function rateLimit(app: FastifyInstance, limiter: RateLimiter, perMinute: number, limitedBody: (req: FastifyRequest) => object) {
  const roomLeft = new LRUCache<string, number>({ max: 10_000, ttl: WINDOW_MS });
  const counting = new WeakMap<FastifyRequest, { subject: string; pending: Promise<RateLimiterRes> }>();

  /** Settles a request's count: sets the headers and returns whether it is within the limit. */
  async function settle(reply: FastifyReply, subject: string, pending: Promise<RateLimiterRes>): Promise<boolean> {
    try {
      const res = await pending;
      roomLeft.set(subject, res.remainingPoints, { ttl: Math.max(1, res.msBeforeNext) });
      setHeaders(reply, perMinute, res);
      return true;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      roomLeft.set(subject, 0, { ttl: Math.max(1, err.msBeforeNext) });
      setHeaders(reply, perMinute, err);
      reply.header('retry-after', Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      return false;
    }
  }

  app.addHook('onRequest', async (req, reply) => {
    const keyHash = presentedKeyHash(req);
    const subject = keyHash ? `key:${keyHash}` : `ip:${req.ip}`;
    const pending = limiter.consume(subject);
    if ((req.method === 'GET' || req.method === 'HEAD') && (roomLeft.get(subject) ?? 0) > 0) {
      pending.catch(() => {}); // settled in onSend
      counting.set(req, { subject, pending });
      return;
    }
    if (!(await settle(reply, subject, pending))) return reply.code(429).send(limitedBody(req));
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const counted = counting.get(req);
    if (!counted) return payload;
    counting.delete(req);
    if (await settle(reply, counted.subject, counted.pending)) return payload;
    reply.code(429).header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify(limitedBody(req));
  });
}
