// What the end user's browser hits: the start URL, the per-network callback, and the hosted selection page.
// Results go back to the organization's `redirect_uri` (PRODUCT.md, "The connection flow") or to a hosted page.
//
// A flow opened in a popup (clients/typescript/src/connect.ts opens the start URL with `display=popup`) ends
// instead on popupResultPage, which posts the result to the opener at the redirect_uri's origin and closes. The
// start route keeps the marker in the `sb_popup_{flow id}` cookie beside the binding cookie; it only chooses how
// the end is shown (the browser's holder can set or drop it for their own flow), never where a result may go:
// a flow without a redirect_uri, or with headless selection, ends as it would outside a popup.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.ts';
import type { AccountRow } from '../accounts/accounts.ts';
import type { NetworkId } from '../providers/types.ts';
import { pageBranding } from '../orgs/branding.ts';
import {
  connectedPage,
  continuePage,
  errorPage,
  imageOrigins,
  popupResultPage,
  POPUP_SCRIPT_HASH,
  selectionPage,
  sendPage,
  type Branding,
  type PopupResult,
} from '../web/pages.ts';
import {
  beginFlow,
  completeCallback,
  duringFlow,
  ensureUnopened,
  failFlow,
  findPendingSelection,
  finishSelection,
  FlowError,
  peekStartFlow,
  readStartLink,
  type FlowOutcome,
  type FlowRow,
  OUTAGE_DESCRIPTION,
  type StartingFlow,
} from './flows.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';
import { isRequestTimeout } from '../http/request-timeout.ts';

function withParams(base: string, params: Array<[string, string | null | undefined]>): string {
  const url = new URL(base);
  for (const [k, v] of params) if (v !== null && v !== undefined) url.searchParams.append(k, v);
  return url.toString();
}

function stringParams(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (typeof value === 'string') out[k] = value;
  }
  return out;
}

const popupCookieName = (flowId: string) => `sb_popup_${flowId}`;
const START_ROUTE = '/connect/:token';

/** `display=popup` on the start URL, or anything else there: a 400 that consumes nothing. */
function startDisplay(req: FastifyRequest): 'popup' | 'page' | undefined {
  const display = (req.query as Record<string, unknown> | undefined)?.display;
  if (display === undefined) return 'page';
  return display === 'popup' ? 'popup' : undefined;
}

/** The origin a popup's result may be posted to, when this flow ends in a popup; undefined otherwise. */
function popupOrigin(req: FastifyRequest, flow: FlowRow): string | undefined {
  if (!flow.redirectUri) return undefined;
  const marked = req.routeOptions.url === START_ROUTE ? startDisplay(req) === 'popup' : req.cookies[popupCookieName(flow.id)] === '1';
  if (!marked) return undefined;
  const { origin, protocol } = new URL(flow.redirectUri);
  return protocol === 'https:' || protocol === 'http:' ? origin : undefined;
}

export function browserRoutes(ctx: AppContext) {
  const networkName = (network: string) => ctx.adapters.get(network as NetworkId)?.displayName ?? network;
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, path: '/', secure: ctx.config.publicUrl.startsWith('https:') };

  function clearFlowCookies(reply: FastifyReply, flow: FlowRow) {
    reply.clearCookie(`sb_flow_${flow.id}`, cookieOptions);
    if (reply.request.cookies[popupCookieName(flow.id)]) reply.clearCookie(popupCookieName(flow.id), cookieOptions);
  }

  function sendPopupResult(reply: FastifyReply, branding: Branding, origin: string, result: PopupResult, fallbackUrl: string) {
    const html = popupResultPage(branding, { networkName: networkName(result.network), result, origin, fallbackUrl });
    return sendPage(reply, 200, html, [], imageOrigins(branding), [POPUP_SCRIPT_HASH]);
  }

  async function sendAccounts(reply: FastifyReply, flow: FlowRow, accounts: AccountRow[], status = 302) {
    const popup = popupOrigin(reply.request, flow);
    clearFlowCookies(reply, flow);
    if (!flow.redirectUri) {
      const names = accounts.map((a) => ({ name: a.nickname ?? a.username ?? a.networkUniqueId }));
      const branding = await pageBranding(ctx.db, flow.orgId);
      return sendPage(reply, 200, connectedPage(branding, { networkName: networkName(flow.network), accounts: names }), [], imageOrigins(branding));
    }
    const target = withParams(flow.redirectUri, [
      ['status', 'success'],
      ['network', flow.network],
      ...accounts.flatMap((a): Array<[string, string | null]> => [
        ['account_id', a.id],
        ['username', a.username],
        ['network_unique_id', a.networkUniqueId],
      ]),
      ['tenant_id', flow.tenantId],
    ]);
    if (popup) {
      const result: PopupResult = {
        status: 'success',
        network: flow.network,
        accounts: accounts.map((a) => ({ id: a.id, network: flow.network, username: a.username })),
        tenant_id: flow.tenantId,
      };
      return sendPopupResult(reply, await pageBranding(ctx.db, flow.orgId), popup, result, target);
    }
    return reply.code(status).header('referrer-policy', 'no-referrer').redirect(target, status);
  }

  async function sendOutcome(reply: FastifyReply, outcome: FlowOutcome) {
    const { flow } = outcome;
    if (outcome.kind === 'connected') return sendAccounts(reply, flow, outcome.accounts);
    if (flow.selection === 'headless' && flow.redirectUri) {
      return reply.header('referrer-policy', 'no-referrer').redirect(withParams(flow.redirectUri, [['session', outcome.session], ['network', flow.network]]), 302);
    }
    return reply.header('referrer-policy', 'no-referrer').redirect(`/connect/select?session=${encodeURIComponent(outcome.session)}`, 302);
  }

  async function sendFailure(req: FastifyRequest, reply: FastifyReply, err: unknown, status = 302) {
    // A database outage (raised directly, or as a FlowError made by duringFlow) touches the database no further:
    // no failFlow, no branding lookup. The end user is told to try again, with a 503 page or, where the flow is
    // known, its redirect_uri's `error=temporarily_unavailable`.
    const outage = isDatabaseUnavailable(err) || isRequestTimeout(err);
    if (outage) req.log.warn({ err }, 'connection flow: database unavailable');
    if (!(err instanceof FlowError)) {
      if (!outage) req.log.error({ err }, 'connection flow failed');
      err = outage
        ? new FlowError('temporarily_unavailable', OUTAGE_DESCRIPTION, undefined, false)
        : new FlowError('server_error', 'Something went wrong while connecting. Please try again.');
    }
    const failure = err as FlowError;
    const popup = failure.flow && popupOrigin(req, failure.flow);
    if (failure.flow && failure.endsFlow) {
      await failFlow(ctx, failure.flow);
      clearFlowCookies(reply, failure.flow);
    }
    req.log.info({ error: failure.code, network: failure.flow?.network }, 'connection flow ended with an error');
    if (failure.flow?.redirectUri) {
      const target = withParams(failure.flow.redirectUri, [
        ['status', 'error'],
        ['error', failure.code],
        ['error_description', failure.description],
        ['network', failure.flow.network],
        ['tenant_id', failure.flow.tenantId],
      ]);
      if (popup) {
        const result: PopupResult = {
          status: 'error',
          network: failure.flow.network,
          accounts: [],
          tenant_id: failure.flow.tenantId,
          error: failure.code,
          error_description: failure.description,
        };
        return sendPopupResult(reply, await pageBranding(ctx.db, outage ? undefined : failure.flow.orgId), popup, result, target);
      }
      return reply.header('referrer-policy', 'no-referrer').redirect(target, status);
    }
    const title = failure.code === 'access_denied' ? 'Connection cancelled' : 'The connection could not be completed';
    const branding = await pageBranding(ctx.db, outage ? undefined : failure.flow?.orgId);
    if (outage) reply.header('retry-after', RETRY_AFTER_SECONDS);
    return sendPage(reply, outage ? 503 : 400, errorPage(branding, { title, description: failure.description }), [], imageOrigins(branding));
  }

  return async function routes(app: FastifyInstance) {
    // What the hooks refuse before a handler runs (a NUL byte, an over-long URL) reaches a person's browser as a
    // plain page, never JSON; anything else (an outage, a request that timed out) as the handlers' own failures do.
    app.setErrorHandler(async (err: FastifyError, req, reply) => {
      if (!(err.statusCode && err.statusCode >= 400 && err.statusCode < 500)) return sendFailure(req, reply, err);
      const branding = await pageBranding(ctx.db, undefined);
      const description = 'This link is not valid. Start the connection again.';
      return sendPage(reply, err.statusCode, errorPage(branding, { title: 'The connection could not be completed', description }));
    });

    /** Starts the link's flow and sends the browser on to the network, with the cookie that binds the flow to it. */
    async function start(req: FastifyRequest<{ Params: { token: string } }>, reply: FastifyReply, status: 302 | 303, starting?: StartingFlow) {
      try {
        const { flow, location, cookie } = await beginFlow(ctx, starting ?? (await readStartLink(ctx, req.params.token)));
        reply.setCookie(cookie.name, cookie.value, { ...cookieOptions, expires: cookie.expiresAt });
        if (popupOrigin(req, flow)) reply.setCookie(popupCookieName(flow.id), '1', { ...cookieOptions, expires: cookie.expiresAt });
        return reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store').redirect(ctx.upstream.rewrite(location), status);
      } catch (err) {
        return sendFailure(req, reply, err, status);
      }
    }

    // A link made to be forwarded opens a page whose button starts the flow: chat apps and mail scanners open
    // links to preview them, and a preview must not use up a single-use link.
    app.get<{ Params: { token: string } }>(START_ROUTE, { exposeHeadRoute: false }, async (req, reply) => {
      const display = startDisplay(req);
      if (!display) return sendInvalidDisplay(reply);
      let starting: StartingFlow;
      try {
        starting = await readStartLink(ctx, req.params.token);
        // Without a page, starting the flow is what tells an opened link (its nonce is taken).
        if (starting.flow.startPage) await ensureUnopened(ctx, starting);
      } catch (err) {
        return sendFailure(req, reply, err);
      }
      const { flow } = starting;
      if (!flow.startPage) return start(req, reply, 302, starting);
      const branding = await pageBranding(ctx.db, flow.orgId);
      const action = `/connect/${encodeURIComponent(req.params.token)}${display === 'popup' ? '?display=popup' : ''}`;
      const html = continuePage(branding, { networkName: networkName(flow.network), action });
      // The form's 303 goes on to the network's sign-in page, which CSP's form-action must allow.
      return sendPage(reply, 200, html, ['https:', ...Object.values(ctx.config.upstreams)], imageOrigins(branding));
    });

    app.post<{ Params: { token: string } }>(START_ROUTE, async (req, reply) => (startDisplay(req) ? start(req, reply, 303) : sendInvalidDisplay(reply)));

    // HEAD never starts anything: it only says whether the link is still good.
    app.head<{ Params: { token: string } }>('/connect/:token', async (req, reply) => {
      try {
        await peekStartFlow(ctx, req.params.token);
        return reply.code(200).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send();
      } catch {
        return reply.code(404).header('cache-control', 'no-store').send();
      }
    });

    app.get<{ Params: { network: string } }>('/oauth/:network/callback', async (req, reply) => {
      try {
        return await sendOutcome(reply, await completeCallback(ctx, req.params.network, stringParams(req.query), req.cookies));
      } catch (err) {
        return sendFailure(req, reply, err);
      }
    });

    app.get('/connect/select', async (req, reply) => {
      const session = stringParams(req.query).session ?? '';
      try {
        const pending = await findPendingSelection(ctx, session, { cookies: req.cookies });
        return sendSelection(reply, pending.flow, session, pending.profiles);
      } catch (err) {
        return sendFailure(req, reply, err);
      }
    });

    app.post('/connect/select', async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, string | string[] | undefined>;
      const session = typeof body.session === 'string' ? body.session : '';
      const selected = ([] as string[]).concat(body.selected ?? []);
      try {
        const pending = await findPendingSelection(ctx, session, { cookies: req.cookies });
        const known = new Set(pending.profiles.map((p) => p.networkUniqueId));
        if (selected.length === 0 || selected.some((id) => !known.has(id))) {
          return sendSelection(reply, pending.flow, session, pending.profiles, 'Choose at least one profile to connect.', 400);
        }
        const accounts = await finishSelection(ctx, pending, selected).catch(duringFlow(pending.flow));
        return sendAccounts(reply, pending.flow, accounts, 303);
      } catch (err) {
        return sendFailure(req, reply, err, 303);
      }
    });
  };

  // Before the link is read, so a mistyped marker uses nothing up.
  async function sendInvalidDisplay(reply: FastifyReply) {
    const branding = await pageBranding(ctx.db, undefined);
    const description = 'This connection link has an unknown "display" parameter (only "popup" is known). Start the connection again.';
    return sendPage(reply, 400, errorPage(branding, { title: 'The connection could not be completed', description }));
  }

  async function sendSelection(
    reply: FastifyReply,
    flow: FlowRow,
    session: string,
    profiles: Awaited<ReturnType<typeof findPendingSelection>>['profiles'],
    error?: string,
    status = 200,
  ) {
    const branding = await pageBranding(ctx.db, flow.orgId);
    const html = selectionPage(branding, {
      networkName: networkName(flow.network),
      session,
      error,
      profiles: profiles.map((p) => ({
        id: p.networkUniqueId,
        name: p.nickname ?? p.username ?? p.networkUniqueId,
        username: p.username,
        type: p.accountType,
        pictureUrl: p.profilePictureUrl,
      })),
    });
    return sendPage(reply, status, html, flow.redirectUri ? [new URL(flow.redirectUri).origin] : [], imageOrigins(branding));
  }
}
