// The process's signals: `/health` (this process and its database), `/ready` (fit to take traffic: migrations
// applied, database reachable, a worker alive when one is expected) and `/metrics` (Prometheus text). Health and
// readiness are open to anyone (load balancers and orchestrators ask them) and say nothing but a reason; metrics
// are for this machine or a holder of SWITCHBOARD_METRICS_TOKEN (metrics-access.ts).
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AppContext } from '../context.ts';
import { pendingMigrations } from '../db/migration-state.ts';
import { RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { DatabaseGauges } from './gauges.ts';
import { freshestHeartbeatAge } from './heartbeat.ts';
import { assertMetricsAccess } from './metrics-access.ts';
import { processRegistry } from './metrics.ts';

/** `/health` and `/ready` answer within this, whether or not the database has. */
export const HEALTH_BOUND_MS = 900;
/** A scrape waits this long for the database's gauges, then answers with the rest (Prometheus' timeout is 10 s). */
const GAUGES_BOUND_MS = 3_000;

class TooSlow extends Error {
  constructor() {
    super('no answer in time');
  }
}

/** The promise's value, or a TooSlow after `ms`; the promise itself runs on (the database's own timeouts end it). */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TooSlow()), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const databaseReason = (err: unknown) => (err instanceof TooSlow ? `The database did not answer within ${HEALTH_BOUND_MS} ms` : 'The database is unreachable');

const unavailable = (reply: FastifyReply, body: object) => reply.code(503).header('retry-after', RETRY_AFTER_SECONDS).send(body);

export function observabilityRoutes(ctx: AppContext) {
  const { expectWorker, heartbeatMaxAgeMs, metricsToken } = ctx.config.observability;
  const gauges = new DatabaseGauges(ctx.db);

  return async function routes(app: FastifyInstance) {
    // Load balancers and orchestrators wait a second or two for an answer: a frozen database must be reported,
    // not waited for. The ping itself is shared by concurrent checks (Database.ping), so checks made while the
    // database hangs do not pile up pings; the one in flight ends at the driver's own timeouts.
    app.get('/health', { schema: { hide: true } }, async (req, reply) => {
      try {
        await within(HEALTH_BOUND_MS, ctx.database.ping());
        return { status: 'ok' };
      } catch (err) {
        req.log.warn({ err }, 'health check: database did not answer');
        return unavailable(reply, { status: 'unavailable', reason: databaseReason(err) });
      }
    });

    app.get('/ready', { schema: { hide: true } }, async (req, reply) => {
      const started = Date.now();
      try {
        await within(HEALTH_BOUND_MS, ctx.database.ping());
      } catch (err) {
        req.log.warn({ err }, 'readiness check: database did not answer');
        return unavailable(reply, { status: 'not_ready', reasons: [databaseReason(err)] });
      }
      const reasons: string[] = [];
      try {
        const [pending, age] = await within(
          Math.max(1, HEALTH_BOUND_MS - (Date.now() - started)),
          Promise.all([pendingMigrations(ctx.db), expectWorker ? freshestHeartbeatAge(ctx.db) : Promise.resolve(0)]),
        );
        if (pending.length) reasons.push(`Migrations not applied: ${pending.join(', ')}`);
        if (expectWorker) {
          if (age === undefined) reasons.push('No worker heartbeat: start `switchboard worker` (or set SWITCHBOARD_EXPECT_WORKER=false)');
          else if (age * 1000 > heartbeatMaxAgeMs) reasons.push(`The freshest worker heartbeat is ${Math.round(age)} s old (at most ${heartbeatMaxAgeMs / 1000} s expected)`);
        }
      } catch (err) {
        req.log.warn({ err }, 'readiness check: database did not answer');
        reasons.push(databaseReason(err));
      }
      if (reasons.length) return unavailable(reply, { status: 'not_ready', reasons });
      return { status: 'ready' };
    });

    app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
      assertMetricsAccess(req, metricsToken);
      await within(GAUGES_BOUND_MS, gauges.update()).catch(() => gauges.markDatabaseDown());
      const text = (await processRegistry.metrics()) + (await gauges.registry.metrics());
      return reply.type(processRegistry.contentType).send(text);
    });
  };
}
