// A configured Switchboard: the generated class (one method per operationId) over a fetch client that sends the
// API key, returns each body's payload (src/envelope.ts) and throws a SwitchboardError for every failure.
import { createClient, type Client } from './generated/client/index.js';
import { Switchboard } from './generated/sdk.gen.js';
import { unwrapEnvelope } from './envelope.js';
import { SwitchboardError } from './errors.js';

export interface SwitchboardOptions {
  /** Where the server is, e.g. `https://switchboard.example.com` (its PUBLIC_URL). */
  baseUrl: string;
  /** An API key (`sb_…`), sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Another fetch (tests, proxies, runtimes without a global one). */
  fetch?: typeof fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** The fetch client under a Switchboard, for calls the generated methods do not make. */
export function createSwitchboardClient(options: SwitchboardOptions): Client {
  const client = createClient({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: options.fetch,
    headers: { ...options.headers, authorization: `Bearer ${options.apiKey}` },
    throwOnError: true,
    responseStyle: 'data',
    responseTransformer: async (body) => unwrapEnvelope(body),
  });
  // Called with the parsed error body and the response, or with the thrown fetch error and no response.
  client.interceptors.error.use((error, response) => (error instanceof SwitchboardError ? error : SwitchboardError.from(error, response)));
  return client;
}

/** A Switchboard API client: `await sb.listPosts()` returns the posts; a failure throws a SwitchboardError. */
export function createSwitchboard(options: SwitchboardOptions): Switchboard {
  return new Switchboard({ client: createSwitchboardClient(options) });
}
