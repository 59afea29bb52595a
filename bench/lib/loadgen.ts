// The load generator, run as a child process (`fork`) so that autocannon's own CPU use does not come out of
// the server's event loop. It receives one LoadSpec over IPC, runs an optional warm-up and then the measured
// run, and sends back a LoadResult. Only plain data crosses the process boundary: the URL rotation is done
// here from the list of paths it is given.
import autocannon from 'autocannon';

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

async function main(spec: LoadSpec): Promise<LoadResult> {
  if (spec.warmupSeconds > 0) await run(spec, spec.warmupSeconds);
  const samples: number[] = [];
  const r = await run(spec, spec.durationSeconds, samples);
  const sorted = Float64Array.from(samples).sort();
  const mean = samples.reduce((a, b) => a + b, 0) / (samples.length || 1);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = stat?.count ?? 0;
  return {
    // Completed responses over the measured wall time (autocannon stops at the first tick after `duration`,
    // so the window is ~1 s longer than asked; its `requests.average` is the same figure).
    requestsPerSecond: r.requests.total / r.duration,
    totalRequests: r.requests.total,
    durationSeconds: r.duration,
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      mean,
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
    },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
  };
}

// The parent going away (Ctrl-C, crash) must not leave a load generator running.
process.on('disconnect', () => process.exit(0));
process.once('message', (spec: LoadSpec) => {
  main(spec).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send!({ ok: false, error: String(err instanceof Error ? err.stack : err) }, () => process.exit(1)),
  );
});
