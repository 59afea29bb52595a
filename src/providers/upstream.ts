// The one outbound HTTP client. Every request to a network goes through here, so that:
// - `SWITCHBOARD_UPSTREAMS` rewrites origins (tests, staging and egress proxies point real adapters elsewhere);
// - every request has a timeout;
// - transport failures become transient `NetworkError`s the engine knows how to retry.
import { NetworkError } from './types.ts';

export interface UpstreamRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  headers?: Record<string, string>;
  /** Query parameters appended to the URL. */
  query?: Record<string, string | undefined>;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  /** HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded first). */
  basicAuth?: { username: string; password: string };
  bearer?: string;
  timeoutMs?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or `undefined` when the body is not JSON. */
  body: unknown;
}

export class UpstreamClient {
  constructor(
    private readonly upstreams: Record<string, string>,
    private readonly timeoutMs: number,
  ) {}

  /** The URL with its origin rewritten by the upstream map. Also used for URLs sent to browsers. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    const target = this.upstreams[parsed.origin];
    if (!target) return url;
    const replaced = new URL(target);
    parsed.protocol = replaced.protocol;
    parsed.host = replaced.host;
    return parsed.toString();
  }

  async request(url: string, req: UpstreamRequest = {}): Promise<UpstreamResponse> {
    const target = new URL(this.rewrite(url));
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) target.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.form) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(req.form)) if (v !== undefined) form.set(k, v);
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json';
    }
    if (req.basicAuth) {
      const user = encodeURIComponent(req.basicAuth.username);
      const pass = encodeURIComponent(req.basicAuth.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    } else if (req.bearer) {
      headers.authorization = `Bearer ${req.bearer}`;
    }
    let res: Response;
    try {
      res = await fetch(target, {
        method: req.method ?? (body ? 'POST' : 'GET'),
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(req.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      throw new NetworkError(
        'transient',
        'temporarily_unavailable',
        timedOut ? `${target.host} did not answer in time` : `Could not reach ${target.host}`,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }
}

/** Seconds from a `Retry-After` header (delta-seconds or HTTP date). */
export function retryAfterSeconds(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, Math.round((date - Date.now()) / 1000)) : undefined;
}

/**
 * The classification every adapter starts from for an HTTP status: 5xx and 429 are transient, 401 means the
 * token is dead. Adapters refine it with the network's own error codes.
 */
export function classifyStatus(status: number): 'transient' | 'permanent' | 'rejected' {
  if (status >= 500 || status === 429 || status === 408) return 'transient';
  if (status === 401) return 'permanent';
  return 'rejected';
}
