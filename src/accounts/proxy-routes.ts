// `ANY /v1/social-accounts/{id}/proxy/{path}` (PRODUCT.md, "Calling a network directly"): the escape hatch for
// everything Switchboard does not model. The request goes to the account's network API — only the origin its adapter
// declares, never another host — with the account's current token applied the network's way; query and body pass
// through. A 401 refreshes the token once and tries again. The network's status, body and rate-limit headers come
// back as they are.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import { z } from 'zod';
import { badRequest, notFound } from '../http/errors.ts';
import { documentedOnly } from '../http/openapi.ts';
import { appCredentialsFor } from '../networks/network-configs.ts';
import { NetworkError, type NetworkAdapter, type NetworkId } from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { decryptTokens, findAccount, publishAccountOf, type AccountRow } from './accounts.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

/** Request headers passed on to the network; everything else (our key, cookies, hop-by-hop headers) stays here. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'accept-language', 'if-match', 'if-none-match'];
/** Answer headers passed back: the type, and every rate-limit and usage signal networks send. */
const FORWARDED_RESPONSE_HEADER = /^(content-type|retry-after|etag|location|x-restli-id|.*rate-?limit.*|x-app-usage|x-business-use-case-usage|x-ad-account-usage)$/i;

/**
 * The network URL for a proxied path: the adapter's origin (and its base path) plus the caller's path, refused if
 * any segment would climb out of the base (`..`, also percent-encoded) or the path is not plain.
 */
export function proxiedUrl(origin: string, path: string, rawQuery: string): URL | undefined {
  const base = new URL(origin);
  const segments = path.split('/');
  for (const segment of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\')) return undefined;
  }
  const url = new URL(base.toString());
  url.pathname = `${base.pathname.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
  url.search = rawQuery;
  return url.origin === base.origin && url.pathname.startsWith(base.pathname.replace(/\/+$/, '')) ? url : undefined;
}

export function proxyRoutes(ctx: AppContext) {
  return async function routes(app: FastifyInstance) {
    // The body goes to the network as it came: no parsing here, whatever its type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) => done(null, body));

    const handler = async (req: FastifyRequest<{ Params: { id: string; '*': string } }>, reply: FastifyReply) => {
      const found = await findAccount(ctx.db, req.caller.orgId, req.params.id);
      if (!found) throw notFound('Social account');
      const adapter = ctx.adapters.get(found.network as NetworkId) as NetworkAdapter;
      const api = adapter.api;
      if (!api) throw badRequest(`${adapter.displayName} cannot be called through the proxy`, undefined, 'proxy_not_supported');
      const rawQuery = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
      // An origin per account where the network has one (Bluesky: the account's own PDS), else the adapter's.
      const where = api.originFor?.(publishAccountOf(found)) ?? {
        origin: api.origin,
        callerChosenHost: false,
      };
      const target = proxiedUrl(where.origin, req.params['*'], rawQuery);
      if (!target) throw badRequest('The path may not leave the network API', 'Remove "." and ".." segments from the path', 'proxy_path_refused');

      let account: AccountRow;
      try {
        account = await ensureFreshToken(ctx, found);
      } catch (err) {
        if (err instanceof AccountUnusableError) throw badRequest('The account cannot call its network', err.reason, 'account_unusable');
        throw err;
      }
      const app_ = await appCredentialsFor(ctx, account.orgId, adapter);
      const headers: Record<string, string> = { ...api.headers };
      for (const name of FORWARDED_REQUEST_HEADERS) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = Buffer.isBuffer(req.body) && req.body.length ? req.body : undefined;
      const send = async (row: AccountRow) => {
        const tokens = decryptTokens(ctx.keyring, row);
        if (!tokens) throw badRequest('The account has no token', 'Reconnect it', 'account_unusable');
        const auth = api.authorize?.({ accessToken: tokens.accessToken, app: app_ }) ?? { headers: { authorization: `Bearer ${tokens.accessToken}` } };
        const url = new URL(target);
        for (const [k, v] of Object.entries(auth.query ?? {})) url.searchParams.set(k, v);
        return ctx.upstream.request(url.toString(), {
          method: req.method as Method,
          headers: { ...headers, ...auth.headers },
          callerChosenHost: where.callerChosenHost,
          ...(body ? { raw: { data: body, contentType: headers['content-type'] ?? 'application/octet-stream' } } : {}),
        });
      };
      let res;
      try {
        res = await send(account);
        if (res.status === 401) {
          // The token may have died early: refresh once and try again.
          account = await ensureFreshToken(ctx, account, { force: true }).catch(() => account);
          res = await send(account);
        }
      } catch (err) {
        if (err instanceof NetworkError) {
          return reply.code(502).send({ success: false, error: `${adapter.displayName} could not be reached`, code: 'network_unreachable', message: err.description });
        }
        throw err;
      }
      reply.code(res.status);
      res.headers.forEach((value, name) => {
        if (FORWARDED_RESPONSE_HEADER.test(name)) reply.header(name, value);
      });
      reply.header('x-switchboard-proxied', adapter.network);
      return reply.send(res.bytes);
    };

    for (const method of METHODS) {
      app.route({
        method,
        url: '/v1/social-accounts/:id/proxy/*',
        schema: {
          tags: ['Social accounts'],
          operationId: 'proxySocialAccountRequest',
          summary: "Call the account's network API with its current token (the adapter's API origin only)",
          description:
            "Forwards the request (method, the path after /proxy/, query and body; GET shown, POST, PUT, PATCH and DELETE work the same) to the network's API origin with the account's token applied the network's way, and answers the network's status and body as they are (header `x-switchboard-proxied: <network>`). Only the adapter's own API origin is reachable.",
          hide: method !== 'GET',
          response: {
            200: documentedOnly(z.unknown().describe("The network's answer, as it is").meta({ examples: [{ sub: '8f3kd92', name: 'Ada Lovelace' }] })),
            default: documentedOnly(z.unknown().describe("The network's answer with its own status, as it is").meta({ examples: [{ message: 'Not enough permissions to access: GET /rest/posts' }] })),
          },
          errors: { 404: 'Social account not found' },
        },
        config: { passesInputThrough: true } as object,
        handler,
      });
    }
  };
}
