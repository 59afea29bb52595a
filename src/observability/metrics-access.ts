// Who may read /metrics. The metrics name networks, volumes and backlogs: not for the world. A scraper on the
// same machine (loopback) reads them freely; from anywhere else it must send `Authorization: Bearer
// $SWITCHBOARD_METRICS_TOKEN`, and without that variable set nothing else may read them at all (403).
//
// "Loopback" is the TCP peer, never `req.ip`, and never a request that came through a proxy: a reverse proxy on
// the same machine connects from 127.0.0.1 on behalf of the whole internet, and with SWITCHBOARD_TRUST_PROXY the
// client names its own address in X-Forwarded-For. So any forwarding header makes a request non-loopback, whoever
// sent it and whatever it says.
import type { FastifyRequest } from 'fastify';
import ipaddr from 'ipaddr.js';
import { ApiError } from '../http/errors.ts';
import { safeEqual, sha256 } from '../security/secrets.ts';

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip'];

/** The TCP peer is this machine and nothing says the request was relayed. */
export function isDirectLoopback(req: FastifyRequest): boolean {
  if (FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined)) return false;
  const peer = req.raw.socket.remoteAddress;
  if (!peer || !ipaddr.isValid(peer)) return false;
  // ipaddr.process turns ::ffff:127.0.0.1 (an IPv4 client on a dual-stack socket) into 127.0.0.1.
  return ipaddr.process(peer).range() === 'loopback';
}

function presentedBearer(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : undefined;
}

/** Throws the refusal (403 with no token configured, 401 for a missing or wrong token) unless allowed. */
export function assertMetricsAccess(req: FastifyRequest, token: string | undefined): void {
  if (isDirectLoopback(req)) return;
  if (!token) {
    throw new ApiError(403, 'Metrics are only served to this machine', 'Set SWITCHBOARD_METRICS_TOKEN to read them from elsewhere, with "Authorization: Bearer <token>"', 'metrics_forbidden');
  }
  const presented = presentedBearer(req);
  // Hashed first, so the comparison takes the same time whatever the presented token's length.
  if (!presented || !safeEqual(sha256(presented), sha256(token))) {
    throw new ApiError(401, 'Missing or wrong metrics token', 'Send "Authorization: Bearer <SWITCHBOARD_METRICS_TOKEN>"', 'invalid_metrics_token');
  }
}
