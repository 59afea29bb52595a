// A request not answered within SWITCHBOARD_REQUEST_TIMEOUT_MS is answered 503 through its surface's error handler,
// so a stuck handler (a database that stopped answering, say) does not hold a client and a socket forever.
//
// One sweep a second over the requests in flight, rather than Fastify's `handlerTimeout`: that option gives every
// request an AbortSignal, and aborting each one as it completes builds a DOMException. Measured on auth-url it was
// ~13 % of the server's CPU (bench/compare-auth-url.ts); a Map entry per request costs next to nothing.
import type { FastifyInstance, FastifyReply } from 'fastify';

export class RequestTimeoutError extends Error {
  readonly code = 'SB_REQUEST_TIMEOUT';
  readonly statusCode = 503;
  constructor(timeoutMs: number) {
    super(`The request was not answered within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/** SWITCHBOARD_REQUEST_TIMEOUT_MS ran out before the request was answered. */
export const isRequestTimeout = (err: unknown): boolean => err instanceof RequestTimeoutError;

const SWEEP_MS = 1_000;

export function answerStuckRequests(app: FastifyInstance, timeoutMs: number) {
  const inFlight = new Map<FastifyReply, number>();
  const sweep = setInterval(() => {
    const cutoff = Date.now() - timeoutMs;
    for (const [reply, startedAt] of inFlight) {
      if (startedAt > cutoff) break; // in arrival order: the rest are younger
      inFlight.delete(reply);
      if (!reply.sent && !reply.raw.headersSent) reply.send(new RequestTimeoutError(timeoutMs));
    }
  }, Math.min(SWEEP_MS, timeoutMs));
  sweep.unref();
  // Callback hooks: an async one costs every request a promise and a microtask.
  app.addHook('onRequest', (req, reply, done) => {
    // A route that receives a large body (media uploads) declares it and bounds itself by silence instead.
    if (!(req.routeOptions.config as { longUpload?: boolean } | undefined)?.longUpload) inFlight.set(reply, Date.now());
    done();
  });
  app.addHook('onResponse', (_req, reply, done) => {
    inFlight.delete(reply);
    done();
  });
  app.addHook('onClose', async () => clearInterval(sweep));
}
