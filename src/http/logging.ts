// pino JSON logs with no secrets in them. URLs are the risk: start tokens and selection sessions travel in
// paths, codes and state in query strings. Requests are logged with their query values dropped and any long
// opaque path segment masked; credential headers are never serialized.
import pino, { type Logger } from 'pino';

const SECRET_LOOKING_SEGMENT = /^[A-Za-z0-9_.~-]{32,}$/;
// The sandbox's interaction ids double as its cookie values: shorter than 32 characters, still secret.
const SECRET_AFTER = new Set(['interaction', 'auth']);

export function redactUrl(url: string): string {
  const [path, query] = url.split('?', 2);
  const segments = path.split('/');
  const maskedPath = segments
    .map((segment, i) => (SECRET_LOOKING_SEGMENT.test(segment) || (segment && SECRET_AFTER.has(segments[i - 1])) ? '[redacted]' : segment))
    .join('/');
  if (!query) return maskedPath;
  const keys = [...new URLSearchParams(query).keys()];
  return `${maskedPath}?${keys.map((k) => `${k}=…`).join('&')}`;
}

// Database errors carry the values of the query that failed: Drizzle's DrizzleQueryError puts every parameter in
// its message and its `params` (one of them was once a live access token, logged when a query failed), and
// PostgreSQL's `detail` and `where` quote row values ("Key (email)=(…) already exists"). They are never logged;
// the query text, the SQLSTATE code and the driver's message are, as they are what explains the failure.
const VALUE_FIELDS = new Set(['params', 'parameters', 'values', 'detail', 'where', 'internalQuery', 'raw']);
// Long enough to be a value worth hiding; shorter ones ("1", "en") would only mangle the words around them.
const MIN_SCRUBBED_LENGTH = 6;
const MAX_CAUSE_DEPTH = 5;

type ErrorLike = Error & Record<string, unknown>;

/** Drizzle's wrapper, and PGlite's own errors, carry the query's parameters. */
const carriesParams = (e: ErrorLike) => typeof e.query === 'string' && Array.isArray(e.params);
/** Drizzle's wrapper (no SQLSTATE of its own): its message is the query and then every parameter. */
const isQueryWrapper = (e: ErrorLike) => carriesParams(e) && typeof e.code !== 'string';

/** The string values of every wrapped query's parameters in `err`'s cause chain. */
function parameterValues(err: unknown, out = new Set<string>(), depth = 0): Set<string> {
  if (!err || typeof err !== 'object' || depth > MAX_CAUSE_DEPTH) return out;
  const e = err as ErrorLike;
  if (carriesParams(e)) {
    for (const value of e.params as unknown[]) {
      const text = typeof value === 'string' ? value : value === null || value === undefined || typeof value === 'object' ? JSON.stringify(value ?? null) : String(value);
      if (text && text.length >= MIN_SCRUBBED_LENGTH) out.add(text);
    }
  }
  parameterValues(e.cause, out, depth + 1);
  if (Array.isArray(e.errors)) for (const inner of e.errors) parameterValues(inner, out, depth + 1);
  return out;
}

/** The message without the values it may quote. */
function safeMessage(e: ErrorLike): string {
  if (isQueryWrapper(e)) return `Failed query: ${e.query as string}`;
  const message = typeof e.message === 'string' ? e.message : String(e.message);
  // Class 22 ("data exception") messages quote the offending value: invalid input syntax for type uuid: "…".
  if (typeof e.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code)) return message.replace(/"(?:[^"]|"")*"/g, '"[redacted]"');
  return message;
}

function jsonOf(value: object): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '[unserializable]';
  }
}

function scrubbed(text: string, values: Set<string>): string {
  let out = text;
  for (const value of values) out = out.split(value).join('[redacted]');
  return out;
}

function serializeOne(err: unknown, values: Set<string>, depth: number): Record<string, unknown> {
  if (!err || typeof err !== 'object') return { message: scrubbed(String(err), values) };
  const e = err as ErrorLike;
  const type = e.constructor?.name ?? 'Error';
  const message = scrubbed(safeMessage(e), values);
  const out: Record<string, unknown> = { type, message };
  // The frames only: the stack's first line repeats the unsafe message.
  if (typeof e.stack === 'string') out.stack = [`${type}: ${message}`, ...e.stack.split('\n').filter((line) => /^\s+at /.test(line))].join('\n');
  for (const [key, value] of Object.entries(e)) {
    if (VALUE_FIELDS.has(key) || key === 'cause' || key === 'errors' || key === 'message' || key === 'stack' || value === undefined) continue;
    out[key] = typeof value === 'string' ? scrubbed(value, values) : typeof value === 'object' && value !== null ? scrubbed(jsonOf(value), values) : value;
  }
  if (depth < MAX_CAUSE_DEPTH && e.cause !== undefined) out.cause = serializeOne(e.cause, values, depth + 1);
  if (depth < MAX_CAUSE_DEPTH && Array.isArray(e.errors)) out.errors = e.errors.map((inner) => serializeOne(inner, values, depth + 1));
  return out;
}

/** pino's `err` serializer: type, message, stack, code and query text, cause by cause, and no query values. */
export function serializeError(err: unknown): Record<string, unknown> {
  return serializeOne(err, parameterValues(err), 0);
}

interface LoggableRequest {
  method: string;
  url: string;
  id?: string;
  ip?: string;
  routeOptions?: { url?: string };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: {
        req: (req: LoggableRequest) => ({ method: req.method, url: redactUrl(req.url), route: req.routeOptions?.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: serializeError,
      },
      // Defence in depth for anything that logs an object carrying credentials.
      redact: {
        paths: [
          'headers.authorization',
          'headers.cookie',
          'headers["x-api-key"]',
          '*.access_token',
          '*.refresh_token',
          '*.client_secret',
          '*.accessToken',
          '*.refreshToken',
          '*.clientSecret',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogFn = (...args: unknown[]) => void;

/**
 * A request's logger, made only when something is logged at an enabled level. Fastify makes a child logger per
 * request and the API adds the organization to it (http/auth.ts); with pino's redaction each child costs ~10 µs
 * to set up, paid by every request, though at `LOG_LEVEL=warn` almost none logs a line.
 */
export class LazyChildLogger {
  #parent: Logger;
  #bindings: Record<string, unknown>;
  #real: Logger | undefined;

  constructor(parent: Logger, bindings: Record<string, unknown>) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  #logger(): Logger {
    return (this.#real ??= this.#parent.child(this.#bindings));
  }

  #at(level: LevelName): LogFn {
    return (...args: unknown[]) => {
      const logger = this.#real ?? this.#parent;
      if (logger.isLevelEnabled(level)) (this.#logger()[level] as LogFn)(...args);
    };
  }

  readonly fatal = this.#at('fatal');
  readonly error = this.#at('error');
  readonly warn = this.#at('warn');
  readonly info = this.#at('info');
  readonly debug = this.#at('debug');
  readonly trace = this.#at('trace');
  silent(): void {}

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }
  set level(level: string) {
    this.#logger().level = level;
  }
  isLevelEnabled(level: string): boolean {
    return (this.#real ?? this.#parent).isLevelEnabled(level);
  }
  child(bindings: Record<string, unknown>, options?: pino.ChildLoggerOptions): Logger {
    return this.#logger().child(bindings, options);
  }
  bindings(): Record<string, unknown> {
    return this.#real ? this.#real.bindings() : { ...this.#parent.bindings(), ...this.#bindings };
  }
  /** Adds to the lines this request logs from now on (in place: no new child). */
  setBindings(bindings: Record<string, unknown>): void {
    if (this.#real) this.#real.setBindings(bindings);
    else this.#bindings = { ...this.#bindings, ...bindings };
  }
}

/** Fastify's `childLoggerFactory`: a lazy child, unless the route sets its own level (then a real one at once). */
export function lazyRequestLogger(logger: Logger, bindings: Record<string, unknown>, options: pino.ChildLoggerOptions): Logger {
  if (options && Object.keys(options).length) return logger.child(bindings, options);
  return new LazyChildLogger(logger, bindings) as unknown as Logger;
}
