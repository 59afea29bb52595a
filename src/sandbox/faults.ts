// Test hook: make the sandbox misbehave the way real networks do (outages, rate limits), on demand.
// Faults live in the process that serves the request; tests hand one `SandboxFaults` to the server they start.
import type { FastifyReply, FastifyRequest } from 'fastify';

export type SandboxEndpoint = 'token' | 'revocation' | 'api';

export interface SandboxFault {
  status: number;
  /** OAuth-style code; defaults to `temporarily_unavailable`. */
  error?: string;
  errorDescription?: string;
  retryAfterSeconds?: number;
}

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
}

function endpointOf(path: string): SandboxEndpoint | undefined {
  if (path === '/sandbox/token') return 'token';
  if (path === '/sandbox/token/revocation') return 'revocation';
  if (path.startsWith('/sandbox/api/')) return 'api';
  return undefined;
}

/** An `onRequest` hook answering with the next injected fault for the request's endpoint, if any. */
export function faultHook(faults: SandboxFaults) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const endpoint = endpointOf(req.url.split('?')[0]);
    const fault = endpoint && faults.take(endpoint);
    if (!fault) return;
    if (fault.retryAfterSeconds !== undefined) reply.header('retry-after', String(fault.retryAfterSeconds));
    return reply.code(fault.status).send({
      error: fault.error ?? 'temporarily_unavailable',
      error_description: fault.errorDescription ?? 'The sandbox is unavailable right now',
    });
  };
}
