// "The database cannot be reached right now": one classifier for every surface (the /v1 API, the Ocoya surface,
// the dashboard, the hosted connection pages, the sandbox), so that an outage is a 503 with Retry-After
// everywhere instead of a 500 that reads like a bug. Errors arrive in several wrappings: pg's own, Node's socket
// errors (an AggregateError when a host name resolves to several addresses), pg-pool's plain Errors, and
// Drizzle's DrizzleQueryError with the driver's error as its `cause`.

/** Seconds a client is told to wait (Retry-After) before trying again. */
export const RETRY_AFTER_SECONDS = 5;

/** What a person is told, on every surface. */
export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is not answering right now. Try again in a few seconds.';

/** Raised at once, without a round trip, while the database is known to be unreachable (db/database.ts). */
export class DatabaseUnavailableError extends Error {
  readonly code = 'database_unavailable';
  constructor(message = 'The database cannot be reached') {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

// Socket-level failures to reach, or to keep, the server.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
// SQLSTATEs of a server that is going away, starting, or full: 57P01 admin_shutdown, 57P02 crash_shutdown,
// 57P03 cannot_connect_now, 53300 too_many_connections. Class 08 is "connection exception".
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
// pg and pg-pool say these in words only (no code).
const DRIVER_MESSAGES = /Connection terminated|Query read timeout|timeout expired|Client has encountered a connection error|Cannot use a pool after calling end/i;

/** What kind of unavailability an error is, or undefined when it is not one. */
export type Unavailability =
  /** The server is not answering at all: refused, reset, frozen (a client-side timeout), shutting down. */
  | 'unreachable'
  /** The server answers, but cannot take this now: the pool or the server is full, or a statement ran out of time. */
  | 'busy';

export function unavailability(err: unknown): Unavailability | undefined {
  const seen = new Set<unknown>();
  let verdict: Unavailability | undefined;
  const visit = (e: unknown): void => {
    if (!e || typeof e !== 'object' || seen.has(e) || verdict === 'unreachable') return;
    seen.add(e);
    const { code, message } = e as { code?: unknown; message?: unknown };
    // A DrizzleQueryError's message quotes the query's parameters: judge it by its cause alone.
    const wrapper = typeof (e as { query?: unknown }).query === 'string' && Array.isArray((e as { params?: unknown }).params);
    const text = typeof message === 'string' && !wrapper ? message : '';
    if (e instanceof DatabaseUnavailableError) verdict = 'unreachable';
    else if (code === '53300' || code === '57014' || /timeout exceeded when trying to connect/i.test(text)) verdict ??= 'busy';
    else if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || /^08/.test(code))) verdict = 'unreachable';
    else if (/statement timeout/i.test(text)) verdict ??= 'busy';
    else if (DRIVER_MESSAGES.test(text)) verdict = 'unreachable';
    visit((e as { cause?: unknown }).cause);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) errors.forEach(visit);
  };
  visit(err);
  return verdict;
}

/** Whether `err` means the database cannot serve this request now (answer 503 with Retry-After, not 500). */
export const isDatabaseUnavailable = (err: unknown): boolean => unavailability(err) !== undefined;
