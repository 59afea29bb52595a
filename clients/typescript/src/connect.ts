// Switchboard.connect(authUrl): runs a connection flow in a popup and resolves with its result. The server serves
// this file compiled at GET /sdk/connect.js (src/connect/sdk-routes.ts), where it defines `window.Switchboard`.
//
// The popup opens `authUrl` with `display=popup`: the flow then ends on a page of the Switchboard server that
// posts the result to this window, at the origin of the flow's redirect_uri only, and closes. This page must
// therefore be on the origin of the redirect_uri the auth URL was made with; on any other origin the browser
// drops the message and the promise resolves `{ status: 'closed' }` once the popup has closed.
//
// Plain TypeScript, no imports: it is compiled on its own for browsers.

export interface ConnectedAccount {
  id: string;
  network: string;
  username: string | null;
}

export interface ConnectResult {
  /** `closed`: the popup was closed (by the person, or by the browser) before the flow told its result. */
  status: 'success' | 'error' | 'closed';
  /** The network of the flow (absent for `closed`). */
  network?: string;
  accounts: ConnectedAccount[];
  tenant_id: string | null;
  /** For `error`: an OAuth-style code (`access_denied`, `invalid_request`, `temporarily_unavailable`, …). */
  error?: string;
  /** For `error`: words for people. */
  error_description?: string;
}

export interface ConnectOptions {
  /** Popup size in CSS pixels (default 520 × 720). */
  width?: number;
  height?: number;
}

const MESSAGE_TYPE = 'switchboard:connect-result';
const CLOSED_POLL_MS = 400;

type Unknown = Record<string, unknown>;

const isObject = (value: unknown): value is Unknown => typeof value === 'object' && value !== null && !Array.isArray(value);
const isOptionalString = (value: unknown) => value === undefined || typeof value === 'string';

/** The result inside a message from the server's end page, copied field by field; undefined for anything else. */
function readResult(data: unknown): ConnectResult | undefined {
  if (!isObject(data) || data.type !== MESSAGE_TYPE || !isObject(data.result)) return undefined;
  const r = data.result;
  if (r.status !== 'success' && r.status !== 'error') return undefined;
  if (typeof r.network !== 'string' || !Array.isArray(r.accounts)) return undefined;
  if (!(r.tenant_id === null || typeof r.tenant_id === 'string')) return undefined;
  if (!isOptionalString(r.error) || !isOptionalString(r.error_description)) return undefined;
  const accounts: ConnectedAccount[] = [];
  for (const a of r.accounts as unknown[]) {
    if (!isObject(a) || typeof a.id !== 'string' || typeof a.network !== 'string') return undefined;
    if (!(a.username === null || typeof a.username === 'string')) return undefined;
    accounts.push({ id: a.id, network: a.network, username: a.username });
  }
  if (r.status === 'success' && accounts.length === 0) return undefined;
  const result: ConnectResult = { status: r.status, network: r.network, accounts, tenant_id: r.tenant_id };
  if (r.status === 'error') {
    result.error = typeof r.error === 'string' ? r.error : 'server_error';
    if (typeof r.error_description === 'string') result.error_description = r.error_description;
  }
  return result;
}

function popupFeatures(options: ConnectOptions): string {
  const width = options.width ?? 520;
  const height = options.height ?? 720;
  const left = Math.max(0, Math.round(window.screenX + (window.outerWidth - width) / 2));
  const top = Math.max(0, Math.round(window.screenY + (window.outerHeight - height) / 2));
  return `popup=yes,width=${width},height=${height},left=${left},top=${top}`;
}

/**
 * Opens the connection flow at `authUrl` (the `auth_url` of `POST /v1/social-networks/{network}/auth-url`) in a
 * popup. Call it from a click handler, or the browser may block the popup.
 *
 * Resolves with the flow's result: `success` with the accounts connected, `error` with the error, or `closed`
 * when the popup closed without a result (it never rejects for that). Rejects only for an `authUrl` that is not
 * an http(s) URL.
 *
 * A blocked popup (window.open returned null) falls back to sending this page to `authUrl`: the flow then ends at
 * the redirect_uri with `?status=…` as without this script, and the promise never settles (the page is leaving).
 */
export function connect(authUrl: string, options: ConnectOptions = {}): Promise<ConnectResult> {
  let start: URL;
  try {
    start = new URL(authUrl, window.location.href);
  } catch {
    return Promise.reject(new TypeError('Switchboard.connect: authUrl is not a URL'));
  }
  if (start.protocol !== 'https:' && start.protocol !== 'http:') {
    return Promise.reject(new TypeError('Switchboard.connect: authUrl must be an http(s) URL'));
  }
  // Only the server that made the link may answer: its end page is the one page that posts results.
  const serverOrigin = start.origin;
  const popupUrl = new URL(start.toString());
  popupUrl.searchParams.set('display', 'popup');

  const popup = window.open(popupUrl.toString(), '_blank', popupFeatures(options));
  if (!popup) {
    window.location.assign(start.toString());
    return new Promise<ConnectResult>(() => {});
  }

  return new Promise<ConnectResult>((resolve) => {
    let settled = false;
    const finish = (result: ConnectResult) => {
      if (settled) return;
      settled = true;
      window.removeEventListener('message', onMessage);
      clearInterval(poll);
      resolve(result);
    };
    const onMessage = (event: MessageEvent) => {
      if (event.origin !== serverOrigin || event.source !== popup) return;
      const result = readResult(event.data);
      if (!result) return;
      finish(result);
      try {
        popup.close();
      } catch {
        // The end page closes itself too.
      }
    };
    window.addEventListener('message', onMessage);
    // The end page posts before it closes, so a popup seen closed here either ended without a result or its
    // message was already handled.
    const poll = setInterval(() => {
      if (popup.closed) finish({ status: 'closed', accounts: [], tenant_id: null });
    }, CLOSED_POLL_MS);
  });
}
