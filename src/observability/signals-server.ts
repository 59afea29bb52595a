// `switchboard worker` serves no API, yet its counters (refreshes, publish targets, webhook attempts) are its own
// and nobody else can report them: with SWITCHBOARD_WORKER_PORT set it listens there (on HOST) for /metrics,
// /health and /ready, with the same access rule for /metrics as `serve`, and nothing else.
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../context.ts';
import { useNativeErrors } from '../http/errors.ts';
import { clientErrorHandler, requestId, useRequestHygiene } from '../http/hygiene.ts';
import { observeHttpRequests } from './http-metrics.ts';
import { observabilityRoutes } from './routes.ts';

export interface SignalsServer {
  url: string;
  close(): Promise<void>;
}

export async function startSignalsServer(ctx: AppContext, port: number): Promise<SignalsServer> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    genReqId: requestId,
    clientErrorHandler,
    forceCloseConnections: true,
    // The same rule as serve's: a forwarded request never counts as loopback (metrics-access.ts).
    trustProxy: ctx.config.trustProxy as boolean | string,
  });
  useRequestHygiene(app);
  observeHttpRequests(app);
  useNativeErrors(app);
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ success: false, error: 'Not found', code: 'not_found' }));
  await app.register(observabilityRoutes(ctx));
  await app.listen({ port, host: ctx.config.host });
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return { url: `http://${ctx.config.host.includes(':') ? `[${ctx.config.host}]` : ctx.config.host}:${bound}`, close: () => app.close() };
}
