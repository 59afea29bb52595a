// A failed call throws a SwitchboardError: the HTTP status and the body's stable `code` to branch on, its
// sentence (`error`) and detail (`message`) for people, and for a 400 `invalid_payload` the field tree in `details`.

/** The body of a failed call, as the API sends it (`components.schemas.Error` in the OpenAPI document). */
export interface SwitchboardErrorBody {
  success: false;
  error: string;
  code: string;
  message?: string;
  details?: unknown;
}

export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';
  /** The HTTP status; 0 when no answer came (network error, aborted). */
  readonly status: number;
  /** Stable, machine-readable (`invalid_api_key`, `invalid_payload`, `not_found`, …); `network_error` when no answer came. */
  readonly code: string;
  /** The API's sentence (`Invalid API key`). */
  readonly error: string;
  /** For a validation error, which fields are wrong (zod's format tree: `{ field: { _errors: [...] } }`). */
  readonly details: unknown;
  /** The server's `X-Request-Id`, to find the request in its logs. */
  readonly requestId: string | undefined;

  constructor(init: { status: number; code: string; error: string; message?: string; details?: unknown; requestId?: string; cause?: unknown }) {
    super(init.message ? `${init.error}: ${init.message}` : init.error, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.error = init.error;
    this.details = init.details;
    this.requestId = init.requestId;
  }

  /** From what the client got: the parsed error body (or its text) and the response, if any came. */
  static from(body: unknown, response: Response | undefined): SwitchboardError {
    if (!response) {
      const cause = body;
      return new SwitchboardError({ status: 0, code: 'network_error', error: 'No response from the Switchboard server', message: cause instanceof Error ? cause.message : undefined, cause });
    }
    const requestId = response.headers.get('x-request-id') ?? undefined;
    if (isErrorBody(body)) {
      return new SwitchboardError({ status: response.status, code: body.code, error: body.error, message: body.message, details: body.details, requestId });
    }
    // Not the API's shape (a proxy's page, an empty body): the status is all there is.
    return new SwitchboardError({ status: response.status, code: `http_${response.status}`, error: response.statusText || `HTTP ${response.status}`, requestId });
  }
}

function isErrorBody(body: unknown): body is SwitchboardErrorBody {
  return typeof body === 'object' && body !== null && (body as { success?: unknown }).success === false && typeof (body as { code?: unknown }).code === 'string' && typeof (body as { error?: unknown }).error === 'string';
}
