// Every HTTP request observed once it is answered, labelled by the route's pattern (`/v1/posts/:id`), never by the
// raw URL: ids and tokens in paths would make a series per request and put secrets into the metrics.
import type { FastifyInstance } from 'fastify';
import { httpRequestDuration } from './metrics.ts';

/** A request no route matched (a 404, or one refused before routing): one series for all of them. */
const UNMATCHED = 'unmatched';

/** Installs the hook on the root instance, so it sees the requests of every surface registered after it. */
export function observeHttpRequests(app: FastifyInstance) {
  // A callback hook: an async one costs every request a promise and a microtask.
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.is404 ? UNMATCHED : (req.routeOptions.url ?? UNMATCHED);
    httpRequestDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
}
