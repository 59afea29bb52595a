// The load generator, run as a child process (`fork`) so that autocannon's own CPU use does not come out of
// the server's event loop. It receives one LoadSpec over IPC, runs an optional warm-up and then the measured
// run, and sends back a LoadResult. Only plain data crosses the process boundary: the URL rotation is done
// here from the list of paths it is given.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export interface LoadSpec {
  /** Origin, e.g. `http://127.0.0.1:3000`. */
  origin: string;
  method: 'GET' | 'POST';
  /** Requests cycle through these paths (shared counter across connections). */
  paths: string[];
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /**
   * Paced (open-loop) load: this many requests per second at even intervals over at most `connections`
   * keep-alive connections, instead of autocannon's as-fast-as-possible. Each latency is measured from the
   * moment the request was due, so a stalled server shows up in the figures (no coordinated omission).
   */
  ratePerSecond?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  totalRequests: number;
  durationSeconds: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /**
   * Share of the machine's CPU time the hypervisor gave to other guests during the measured window (the
   * `steal` column of /proc/stat), in percent; undefined where /proc/stat is not there. On a shared VM this is
   * the noise no code change can remove: a stolen slice stalls whichever process was running.
   */
  stealPercent?: number;
}

/** Cumulative CPU time of the whole machine from /proc/stat's first line, in clock ticks. */
function cpuTimes(): { steal: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
    return { steal: fields[7] ?? 0, total: fields.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** Runs `measure` and adds the steal it saw. */
async function withSteal(measure: () => Promise<LoadResult>): Promise<LoadResult> {
  const before = cpuTimes();
  const result = await measure();
  const after = cpuTimes();
  if (before && after && after.total > before.total) result.stealPercent = (100 * (after.steal - before.steal)) / (after.total - before.total);
  return result;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/**
 * One autocannon run. Latencies are collected here from every response, in fractional milliseconds:
 * autocannon's own latency histogram has 1 ms resolution and only counts 2xx responses.
 */
function run(spec: LoadSpec, seconds: number, latencies?: number[]): Promise<autocannon.Result> {
  let next = 0;
  const paths = spec.paths;
  const opts: autocannon.Options = {
    url: spec.origin + paths[0],
    method: spec.method,
    headers: spec.headers,
    body: spec.body,
    connections: spec.connections,
    duration: seconds,
  };
  if (paths.length > 1) {
    opts.requests = [
      {
        setupRequest: (req) => {
          const path = paths[next];
          next = (next + 1) % paths.length;
          return { ...req, path };
        },
      },
    ];
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (latencies) instance.on('response', (_client, _status, _bytes, responseTime) => void latencies.push(responseTime));
  });
}

/**
 * Open-loop load at a fixed rate (autocannon's rate limit sends each second's budget in a burst). Requests go
 * over raw keep-alive sockets as prebuilt bytes, and responses are framed by Content-Length only: node:http's
 * client cost about 1.3 ms of CPU per request here, which on a 2-core machine comes out of the server's share.
 */
async function runPaced(spec: LoadSpec, seconds: number, latencies?: number[]): Promise<LoadResult> {
  const rate = spec.ratePerSecond!;
  const origin = new URL(spec.origin);
  const head = Object.entries({ host: origin.host, ...spec.headers, ...(spec.body ? { 'content-length': String(Buffer.byteLength(spec.body)) } : {}) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const requestBytes = spec.paths.map((path) => Buffer.from(`${spec.method} ${path} HTTP/1.1\r\n${head}\r\n${spec.body ?? ''}`));
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let non2xx = 0;
  let completed = 0;

  /** One keep-alive connection carrying one request at a time. */
  class PacedConnection {
    private readonly socket: Socket;
    private buffered = Buffer.alloc(0);
    private current?: { countedFrom: number; done: () => void };
    constructor(onIdle: (c: PacedConnection) => void) {
      this.socket = connect({ host: origin.hostname, port: Number(origin.port) });
      this.socket.setNoDelay(true);
      this.socket.on('data', (chunk) => {
        this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
        const end = this.buffered.indexOf('\r\n\r\n');
        if (end < 0 || !this.current) return;
        const headers = this.buffered.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length: *(\d+)/i.exec(headers);
        if (!length) throw new Error(`paced load needs Content-Length responses, got: ${headers.slice(0, 200)}`);
        const total = end + 4 + Number(length[1]);
        if (this.buffered.length < total) return;
        const status = Number(headers.slice(9, 12));
        this.buffered = this.buffered.subarray(total);
        completed++;
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        if (status < 200 || status >= 300) non2xx++;
        latencies?.push(performance.now() - this.current.countedFrom);
        const { done } = this.current;
        this.current = undefined;
        done();
        onIdle(this);
      });
      this.socket.on('error', () => {
        errors++;
        this.current?.done();
        this.current = undefined;
      });
    }
    send(bytes: Buffer, due: number, done: () => void) {
      // Counted from when it was due, or from when it went out if that was earlier: Node's timers work in whole
      // milliseconds and may fire up to one early, and counting such a request from its due time once gave the
      // bare route a p50 below zero.
      this.current = { countedFrom: Math.min(due, performance.now()), done };
      this.socket.write(bytes);
    }
    close() {
      this.socket.destroy();
    }
  }

  // Requests that fall due while every connection is busy wait here, latency still counted from when due.
  const waiting: Array<{ bytes: Buffer; due: number; done: () => void }> = [];
  const idle: PacedConnection[] = [];
  const onIdle = (c: PacedConnection) => {
    const next = waiting.shift();
    if (next) c.send(next.bytes, next.due, next.done);
    else idle.push(c);
  };
  const pool = Array.from({ length: spec.connections }, () => new PacedConnection(onIdle));
  idle.push(...pool);

  const total = Math.round(rate * seconds);
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const bytes = requestBytes[i % requestBytes.length];
    inFlight.push(
      new Promise<void>((done) => {
        const c = idle.pop();
        if (c) c.send(bytes, due, done);
        else waiting.push({ bytes, due, done });
      }),
    );
  }
  await Promise.all(inFlight);
  const duration = (performance.now() - start) / 1000;
  for (const c of pool) c.close();
  return summarize(latencies ?? [], { requestsPerSecond: completed / duration, totalRequests: completed, durationSeconds: duration, non2xx, errors, timeouts: 0, statusCodes });
}

function summarize(samples: number[], counts: Omit<LoadResult, 'latencyMs'>): LoadResult {
  const sorted = Float64Array.from(samples).sort();
  const mean = samples.reduce((a, b) => a + b, 0) / (samples.length || 1);
  return {
    ...counts,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      mean,
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
    },
  };
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  if (spec.ratePerSecond) {
    if (spec.warmupSeconds > 0) await runPaced(spec, spec.warmupSeconds);
    return withSteal(() => runPaced(spec, spec.durationSeconds, []));
  }
  if (spec.warmupSeconds > 0) await run(spec, spec.warmupSeconds);
  return withSteal(() => measureFlatOut(spec));
}

async function measureFlatOut(spec: LoadSpec): Promise<LoadResult> {
  const samples: number[] = [];
  const r = await run(spec, spec.durationSeconds, samples);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = stat?.count ?? 0;
  return summarize(samples, {
    // Completed responses over the measured wall time (autocannon stops at the first tick after `duration`,
    // so the window is ~1 s longer than asked; its `requests.average` is the same figure).
    requestsPerSecond: r.requests.total / r.duration,
    totalRequests: r.requests.total,
    durationSeconds: r.duration,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
  });
}

// The parent going away (Ctrl-C, crash) must not leave a load generator running.
process.on('disconnect', () => process.exit(0));
process.once('message', (spec: LoadSpec) => {
  main(spec).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send!({ ok: false, error: String(err instanceof Error ? err.stack : err) }, () => process.exit(1)),
  );
});
