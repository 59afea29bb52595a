// Per-key rate limits that hold across every server process: counters live in the shared database
// (rate-limiter-flexible's Drizzle store: one atomic upsert per request) or in Redis when REDIS_URL is set.
// Every response carries X-RateLimit-Limit / -Remaining / -Reset; past the limit, 429 with Retry-After.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterDrizzle, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Db } from '../db/database.ts';
import { rateLimits } from '../db/schema.ts';
import { sha256 } from '../security/secrets.ts';
import { presentedApiKey } from './auth.ts';

export interface RateLimitStore {
  /** A limiter of `perMinute` requests per key and minute, namespaced by `name`. */
  limiter(name: string, perMinute: number): RateLimiterAbstract;
  close(): Promise<void>;
}

export function createRateLimitStore(opts: { db: Db; redisUrl?: string }): RateLimitStore {
  const redis = opts.redisUrl ? new Redis(opts.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }) : undefined;
  redis?.on('error', () => {}); // reported through the limiter's insurance fallback, not as a crash
  return {
    limiter(name, perMinute) {
      const common = { keyPrefix: `rl:${name}`, points: perMinute, duration: 60 };
      // If the shared store fails, fall back to a per-process counter rather than failing requests.
      const insuranceLimiter = new RateLimiterMemory(common);
      return redis
        ? new RateLimiterRedis({ ...common, storeClient: redis, insuranceLimiter })
        : new RateLimiterDrizzle({ ...common, storeClient: opts.db, schema: rateLimits, insuranceLimiter, clearExpiredByTimeout: false });
    },
    async close() {
      await redis?.quit().catch(() => {});
    },
  };
}

function setHeaders(reply: FastifyReply, limit: number, res: RateLimiterRes) {
  reply.header('x-ratelimit-limit', limit);
  reply.header('x-ratelimit-remaining', Math.max(0, res.remainingPoints));
  reply.header('x-ratelimit-reset', Math.ceil((Date.now() + res.msBeforeNext) / 1000));
}

/**
 * Adds the limit to a scope, counted per API key (per client address when no key is sent). `onLimited`
 * writes the surface's own 429 body.
 */
export function rateLimit(
  app: FastifyInstance,
  limiter: RateLimiterAbstract,
  perMinute: number,
  onLimited: (req: FastifyRequest, reply: FastifyReply) => unknown,
) {
  app.addHook('onRequest', async (req, reply) => {
    const key = presentedApiKey(req);
    const subject = key ? `key:${sha256(key)}` : `ip:${req.ip}`;
    try {
      setHeaders(reply, perMinute, await limiter.consume(subject));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      setHeaders(reply, perMinute, err);
      reply.header('retry-after', Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
      return onLimited(req, reply);
    }
  });
}
