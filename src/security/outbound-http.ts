// The one HTTP transport for everything we send out: webhook deliveries and network API calls (through
// `providers/upstream.ts`). Every request has one deadline (resolution, connection, answer and body together),
// follows no redirects (a 3xx is an answer like any other), and reads the body as a stream up to a cap: past it the
// socket is destroyed, so a 300 MB answer costs the cap, not 300 MB, and the caller is told the body was cut.
//
// A *guarded* request is one to a host a caller chose (a webhook URL, a did:web host, a PDS): its name is resolved
// once, every address is checked (`destinations.ts`), and the connection is made only to those checked addresses —
// the socket's lookup is pinned to them, so nothing resolves the name a second time. TLS still verifies the
// certificate (and sends SNI) for the host name, not the address.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { HostResolver, type ResolvedAddress } from './destinations.ts';

/**
 * Unguarded requests (network APIs at the adapters' own hosts) share kept-alive connections, at most
 * SWITCHBOARD_UPSTREAM_SOCKETS_PER_ORIGIN (256) per origin: a burst of thousands (posts scheduled for one instant)
 * queues on warm connections rather than opening thousands at once — each a TLS handshake, and past the server's
 * listen backlog a SYN retried a second later. One pool per process, whatever the number of clients in it.
 */
const DEFAULT_SOCKETS_PER_ORIGIN = 256;
const pooled = {
  http: new http.Agent({ keepAlive: true, maxSockets: DEFAULT_SOCKETS_PER_ORIGIN, maxFreeSockets: DEFAULT_SOCKETS_PER_ORIGIN, scheduling: 'lifo' }),
  https: new https.Agent({ keepAlive: true, maxSockets: DEFAULT_SOCKETS_PER_ORIGIN, maxFreeSockets: DEFAULT_SOCKETS_PER_ORIGIN, scheduling: 'lifo' }),
};

/** SWITCHBOARD_UPSTREAM_SOCKETS_PER_ORIGIN, for the process's pool. */
export function setUpstreamSocketsPerOrigin(sockets: number) {
  for (const agent of [pooled.http, pooled.https]) {
    agent.maxSockets = sockets;
    agent.maxFreeSockets = sockets;
  }
}
/** A pinned lookup must not hand its socket to a pool that later requests (other checks) would share. */
const agentFor = (url: URL, lookup: LookupFunction | undefined) => (lookup ? false : url.protocol === 'https:' ? pooled.https : pooled.http);

export interface OutboundRequest {
  method: string;
  headers: Record<string, string>;
  /** A stream is sent as it is read (media uploads): give its `content-length` in `headers` when it is known. */
  body?: string | Buffer | Readable;
  timeoutMs: number;
  /** Bytes of body kept; the connection is cut past them. */
  maxResponseBytes: number;
  /** The host was chosen by a caller: only public addresses, checked at resolution time. */
  guard: boolean;
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  /** At most `maxResponseBytes`. */
  body: Buffer;
  /** The answer was longer than `maxResponseBytes` and was cut there. */
  truncated: boolean;
}

/** The request did not get an answer: `timeout` (deadline passed) or `connect` (no connection, or it broke). */
export class OutboundFailure extends Error {
  constructor(
    readonly reason: 'timeout' | 'connect',
    message: string,
  ) {
    super(message);
    this.name = 'OutboundFailure';
  }
}

export class OutboundHttp {
  constructor(
    private readonly resolver: HostResolver,
    /** SWITCHBOARD_ALLOW_PRIVATE_URLS: guarded requests go anywhere (development). */
    readonly allowPrivate: boolean,
  ) {}

  /** Throws DestinationRefused and UnresolvableHost (from the guard) and OutboundFailure. */
  async request(url: URL, req: OutboundRequest): Promise<OutboundResponse> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), req.timeoutMs);
    const timedOut = () => new OutboundFailure('timeout', `${url.host} did not answer within ${req.timeoutMs / 1000} s`);
    try {
      const lookup = req.guard ? await this.checkedLookup(url, deadline.signal, timedOut) : undefined;
      return await send(url, req, lookup, deadline.signal, timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A GET whose answer is handed over as a stream, for bodies too large to hold (media imported from a URL): the
   * same guard, pinning and no-redirect rule as `request`. `timeoutMs` bounds everything up to the response
   * headers; after that the body may take as long as it needs, but a pause of `timeoutMs` with no byte breaks it
   * off (the stream errors with an OutboundFailure). The caller must read or destroy the body.
   */
  async stream(url: URL, req: { headers: Record<string, string>; timeoutMs: number; guard: boolean }): Promise<OutboundStream> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), req.timeoutMs);
    const timedOut = () => new OutboundFailure('timeout', `${url.host} did not answer within ${req.timeoutMs / 1000} s`);
    try {
      const lookup = req.guard ? await this.checkedLookup(url, deadline.signal, timedOut) : undefined;
      return await openStream(url, req, lookup, deadline, timer, timedOut);
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
  }

  private async checkedLookup(url: URL, signal: AbortSignal, timedOut: () => OutboundFailure): Promise<LookupFunction> {
    // With SWITCHBOARD_ALLOW_PRIVATE_URLS the addresses are not judged, but still resolved here (through
    // SWITCHBOARD_DNS_SERVERS when set) and pinned: one resolver and one resolution for caller-chosen hosts.
    const resolving = this.allowPrivate ? this.resolver.resolve(url.hostname) : this.resolver.publicAddresses(url.hostname);
    // A resolution cannot be cancelled, only no longer waited for.
    const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(timedOut()), { once: true }));
    return pinnedLookup(await Promise.race([resolving, aborted]));
  }
}

export interface OutboundStream {
  status: number;
  headers: Headers;
  body: Readable;
}

function openStream(
  url: URL,
  req: { headers: Record<string, string>; timeoutMs: number },
  lookup: LookupFunction | undefined,
  deadline: AbortController,
  timer: NodeJS.Timeout,
  timedOut: () => OutboundFailure,
): Promise<OutboundStream> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(url, { method: 'GET', headers: req.headers, lookup, agent: agentFor(url, lookup) }, (res) => {
      clearTimeout(timer);
      // From here on, silence is what times out, not the length of the whole transfer.
      res.setTimeout(req.timeoutMs, () => res.destroy(new OutboundFailure('timeout', `${url.host} sent nothing for ${req.timeoutMs / 1000} s`)));
      res.on('aborted', () => res.destroy(new OutboundFailure('connect', `${url.host} broke off its answer`)));
      resolve({ status: res.statusCode ?? 0, headers: toHeaders(res.headers), body: res });
    });
    deadline.signal.addEventListener('abort', () => outgoing.destroy(timedOut()), { once: true });
    outgoing.on('error', (err) =>
      reject(
        err instanceof OutboundFailure ? err : new OutboundFailure('connect', `Could not connect to ${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`),
      ),
    );
    outgoing.end();
  });
}

/**
 * A lookup that answers with the addresses already checked, whatever it is asked. Address literals never reach a
 * lookup (net connects to them directly), and they were checked as themselves.
 */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
    const usable = wanted.length ? wanted : addresses;
    if (options.all) (callback as (err: null, all: ResolvedAddress[]) => void)(null, usable);
    else callback(null, usable[0].address, usable[0].family);
  };
}

function send(url: URL, req: OutboundRequest, lookup: LookupFunction | undefined, signal: AbortSignal, timedOut: () => OutboundFailure): Promise<OutboundResponse> {
  const transport = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { ...req.headers };
  if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) headers['content-length'] = String(Buffer.byteLength(req.body));
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(
      url,
      {
        method: req.method,
        headers,
        // The deadline destroys the socket wherever the request is: connecting, waiting, or mid-body.
        signal,
        lookup,
        agent: agentFor(url, lookup),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let done = false;
        const finish = (truncated: boolean) => {
          if (done) return;
          done = true;
          resolve({ status: res.statusCode ?? 0, headers: toHeaders(res.headers), body: Buffer.concat(chunks, size), truncated });
        };
        res.on('data', (chunk: Buffer) => {
          if (done) return;
          const room = req.maxResponseBytes - size;
          if (chunk.length <= room) {
            chunks.push(chunk);
            size += chunk.length;
            return;
          }
          chunks.push(chunk.subarray(0, room));
          size += room;
          finish(true);
          // The rest is not wanted: closing the socket stops the sender instead of draining it.
          outgoing.destroy();
        });
        res.on('end', () => finish(false));
        res.on('error', (err) => {
          if (!done) reject(signal.aborted ? timedOut() : new OutboundFailure('connect', `${url.host} broke off its answer: ${err.message}`));
        });
        res.on('close', () => {
          if (!done && !res.complete) reject(signal.aborted ? timedOut() : new OutboundFailure('connect', `${url.host} broke off its answer`));
        });
      },
    );
    outgoing.on('error', (err) =>
      reject(signal.aborted ? timedOut() : new OutboundFailure('connect', `Could not connect to ${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)),
    );
    if (req.body instanceof Readable) {
      req.body.on('error', (err) => outgoing.destroy(err));
      req.body.pipe(outgoing);
    } else {
      outgoing.end(req.body);
    }
  });
}

function toHeaders(raw: http.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}
