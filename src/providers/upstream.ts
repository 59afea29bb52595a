// The one outbound HTTP client for network APIs. Every request to a network goes through here, so that:
// - `SWITCHBOARD_UPSTREAMS` rewrites origins (tests, staging and egress proxies point real adapters elsewhere);
// - every request has a timeout, and its answer a size cap (SWITCHBOARD_UPSTREAM_MAX_RESPONSE_BYTES, read as a
//   stream: past the cap the connection is cut and the call fails, never held whole in memory);
// - a request to a host a caller chose (`callerChosenHost`: a did:web host, a PDS from a DID document) is guarded —
//   only public addresses, checked when the name is resolved — unless the upstream map rewrites its origin: hosts
//   named in that map are the operator's choice;
// - transport failures become transient `NetworkError`s the engine knows how to retry.
import { DestinationRefused, HostResolver, UnresolvableHost } from '../security/destinations.ts';
import { OutboundFailure, OutboundHttp } from '../security/outbound-http.ts';
import { isPrivateHost } from '../security/private-urls.ts';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { NetworkError } from './types.ts';

export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface UpstreamRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  headers?: Record<string, string>;
  /** Query parameters appended to the URL. */
  query?: Record<string, string | undefined>;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as they are (media bytes); a stream is sent as it is read, with `length` as its content-length if known. */
  raw?: { data: Buffer | Readable; contentType: string; length?: number };
  /** Sent as `multipart/form-data` (X's media append): text fields and file parts, held in memory — keep parts small. */
  multipart?: MultipartField[];
  /** HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded first). */
  basicAuth?: { username: string; password: string };
  bearer?: string;
  timeoutMs?: number;
  /**
   * The host came from a caller or from data a caller controls, not from the adapter's own constants: it may only
   * be a public address (unless the upstream map rewrites it, or SWITCHBOARD_ALLOW_PRIVATE_URLS=true).
   */
  callerChosenHost?: boolean;
}

export type MultipartField = { name: string; value: string } | { name: string; data: Buffer; filename?: string; contentType?: string };

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body as it came (at most the size cap): for answers that are not text. */
  bytes: Buffer;
  /** Parsed JSON body, or `undefined` when the body is not JSON. */
  body: unknown;
}

export interface UpstreamOptions {
  /** The transport (and with it the resolver and SWITCHBOARD_ALLOW_PRIVATE_URLS); by default the system resolver, guarded. */
  http?: OutboundHttp;
  maxResponseBytes?: number;
}

export class UpstreamClient {
  private readonly http: OutboundHttp;
  private readonly maxResponseBytes: number;

  constructor(
    private readonly upstreams: Record<string, string>,
    private readonly timeoutMs: number,
    opts: UpstreamOptions = {},
  ) {
    this.http = opts.http ?? new OutboundHttp(new HostResolver(), false);
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /**
   * Why a caller-chosen endpoint (e.g. a PDS named in a DID document) may not be called, in plain words, or
   * `undefined`. Checked before any request: it must be https and not a private address literal or local name.
   * Names that resolve to private addresses are refused when called. Origins in the upstream map are exempt.
   */
  callerUrlProblem(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'is not a URL';
    }
    if (this.upstreams[parsed.origin] || this.http.allowPrivate) return undefined;
    if (parsed.protocol !== 'https:') return 'must use https';
    if (isPrivateHost(parsed.hostname)) return 'is not a public address';
    return undefined;
  }

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
    const rewritten = this.rewrite(url);
    const target = new URL(rewritten);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) target.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | Buffer | Readable | undefined;
    if (req.raw) {
      body = req.raw.data;
      headers['content-type'] = req.raw.contentType;
      const length = Buffer.isBuffer(req.raw.data) ? req.raw.data.length : req.raw.length;
      if (length !== undefined) headers['content-length'] = String(length);
    } else if (req.multipart) {
      const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
      body = encodeMultipart(req.multipart, boundary);
      headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
    } else if (req.form) {
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
    let res;
    try {
      res = await this.http.request(target, {
        method: req.method ?? (body ? 'POST' : 'GET'),
        headers,
        body,
        timeoutMs: req.timeoutMs ?? this.timeoutMs,
        maxResponseBytes: this.maxResponseBytes,
        guard: Boolean(req.callerChosenHost) && rewritten === url,
      });
    } catch (err) {
      if (err instanceof DestinationRefused) {
        throw new NetworkError('rejected', 'destination_refused', `${err.message}, and only public addresses are called on a caller's behalf`);
      }
      if (err instanceof UnresolvableHost) throw new NetworkError('rejected', 'destination_unresolvable', `${target.hostname} does not resolve to any address`);
      const timedOut = err instanceof OutboundFailure && err.reason === 'timeout';
      throw new NetworkError(
        'transient',
        'temporarily_unavailable',
        timedOut ? `${target.host} did not answer in time` : `Could not reach ${target.host}`,
      );
    }
    if (res.truncated) {
      throw new NetworkError('transient', 'server_error', `${target.host} answered with more than ${this.maxResponseBytes} bytes, more than we accept from a network`);
    }
    const text = res.body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, bytes: res.body, body: parsed };
  }
}

function encodeMultipart(fields: MultipartField[], boundary: string): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const name = field.name.replace(/["\r\n]/g, '_');
    if ('value' in field) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${field.value}\r\n`));
    } else {
      const filename = (field.filename ?? 'blob').replace(/["\r\n]/g, '_');
      parts.push(
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${field.contentType ?? 'application/octet-stream'}\r\n\r\n`),
        field.data,
        Buffer.from('\r\n'),
      );
    }
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
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
