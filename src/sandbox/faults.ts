// Test hook: make the sandbox misbehave the way real networks do (outages, rate limits, slow answers), on demand.
// Faults live in the process that serves the request; tests hand one `SandboxFaults` to the server they start.
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Where a fault applies. `api` is every `/sandbox/api/*` route; `api.me`, `api.pages`, `api.media`, `api.posts`
 * (`/sandbox/api/posts` and `/sandbox/api/posts/{id}…`), `api.metrics` and `api.publishing-options` one
 * of them only. A request takes a fault of its own endpoint first, then one of `api`.
 */
export type SandboxEndpoint = 'token' | 'revocation' | 'api' | 'api.me' | 'api.pages' | 'api.media' | 'api.posts' | 'api.metrics' | 'api.publishing-options';

export interface SandboxFault {
  /** The failure to answer with; absent → the real answer, only late (`delayMs`). */
  status?: number;
  /** OAuth-style code; defaults to `temporarily_unavailable` (`rate_limit_exceeded` for a 429). */
  error?: string;
  errorDescription?: string;
  /** Sent as `Retry-After`. */
  retryAfterSeconds?: number;
  /**
   * Seconds until the rate-limit window resets, sent as `x-rate-limit-reset` (epoch seconds) with
   * `x-rate-limit-remaining: 0`. A 429 without `retryAfterSeconds` or this carries both, 60 s.
   */
  resetInSeconds?: number;
  /**
   * Slow: the answer is held back this long. With `status`, the failure comes after the wait; without it, the
   * request is then served for real (a post is made late, after a client that gave up has stopped waiting).
   */
  delayMs?: number;
}

const DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60;

export class SandboxFaults {
  private readonly pending = new Map<SandboxEndpoint, SandboxFault[]>();

  /** The next `times` requests to `endpoint` get this failure instead of an answer. */
  inject(endpoint: SandboxEndpoint, fault: SandboxFault, times = 1): void {
    const queue = this.pending.get(endpoint) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.pending.set(endpoint, queue);
  }

  clear(): void {
    this.pending.clear();
  }

  take(endpoint: SandboxEndpoint): SandboxFault | undefined {
    return this.pending.get(endpoint)?.shift();
  }

  /** The fault for a request to `path`: its own endpoint's first, then the endpoint family's (`api`). */
  takeFor(path: string): SandboxFault | undefined {
    for (const endpoint of endpointsOf(path)) {
      const fault = this.take(endpoint);
      if (fault) return fault;
    }
    return undefined;
  }
}

function endpointsOf(path: string): SandboxEndpoint[] {
  if (path === '/sandbox/token') return ['token'];
  if (path === '/sandbox/token/revocation') return ['revocation'];
  const api = /^\/sandbox\/api\/([^/]+)/.exec(path)?.[1];
  if (api === undefined) return [];
  const own = ({ me: 'api.me', pages: 'api.pages', media: 'api.media', posts: 'api.posts', metrics: 'api.metrics', 'publishing-options': 'api.publishing-options' } as const)[api];
  return own ? [own, 'api'] : ['api'];
}

const heldBack = new WeakMap<FastifyRequest, number>();

/**
 * `onRequest`: answers with the next injected fault for the request's endpoint, if any; a fault without a status
 * only marks the request to be held back (`holdBack`).
 */
export function faultHook(faults: SandboxFaults) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const fault = faults.takeFor(req.url.split('?')[0]);
    if (!fault) return;
    if (fault.status === undefined) {
      if (fault.delayMs) heldBack.set(req, fault.delayMs);
      return;
    }
    if (fault.delayMs) await sleep(fault.delayMs);
    let { retryAfterSeconds, resetInSeconds } = fault;
    if (fault.status === 429 && retryAfterSeconds === undefined && resetInSeconds === undefined) {
      retryAfterSeconds = resetInSeconds = DEFAULT_RATE_LIMIT_WINDOW_SECONDS;
    }
    if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
    if (resetInSeconds !== undefined) {
      reply.header('x-rate-limit-remaining', '0');
      reply.header('x-rate-limit-reset', String(Math.ceil(Date.now() / 1000) + resetInSeconds));
    }
    return reply.code(fault.status).send({
      error: fault.error ?? (fault.status === 429 ? 'rate_limit_exceeded' : 'temporarily_unavailable'),
      error_description: fault.errorDescription ?? (fault.status === 429 ? 'Too many requests; wait for the rate limit to reset' : 'The sandbox is unavailable right now'),
    });
  };
}

/**
 * `preHandler`: waits out a slow fault's delay before the handler runs — after the body has arrived, so that the
 * request is then served even if its client has stopped waiting. Also reaches routes that take over the response
 * themselves (the token endpoint), which `onSend` would not.
 */
export async function holdBack(req: FastifyRequest): Promise<void> {
  const delayMs = heldBack.get(req);
  if (delayMs) await sleep(delayMs);
}
