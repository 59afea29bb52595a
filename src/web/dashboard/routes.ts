// The dashboard under /dashboard: sign in with an API key, then server-rendered pages with plain forms (no
// JavaScript). The session lives in an httpOnly, SameSite=Strict cookie scoped to /dashboard; every POST
// carries the session's CSRF token as well.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../../db/unavailable.ts';
import { isRequestTimeout } from '../../http/request-timeout.ts';
import { logAsOrganization } from '../../http/auth.ts';
import { withinLimit, type RateLimitStore } from '../../http/rate-limit.ts';
import { authenticateApiKey } from '../../orgs/api-keys.ts';
import { getBranding } from '../../orgs/branding.ts';
import { safeEqual } from '../../security/secrets.ts';
import { accountPages } from './accounts.ts';
import { apiKeyPages } from './api-keys.ts';
import { brandingPages } from './branding.ts';
import { field } from './forms.ts';
import { DASHBOARD, dashboardPage, sendDashboard, STYLES, STYLESHEET } from './layout.ts';
import { networkPages } from './networks.ts';
import { checksOwnCsrf } from './multipart.ts';
import { composePages } from './compose.ts';
import { postPages } from './posts.ts';
import { createSession, deleteSession, findSession, rememberSignedIn, SESSION_COOKIE } from './sessions.ts';
import { webhookPages } from './webhooks.ts';

function loginPage(error?: string): string {
  return dashboardPage(
    { title: 'Sign in', error },
    `<form method="post" action="${DASHBOARD}/login" class="card">
<label for="api_key">API key</label>
<input id="api_key" name="api_key" type="password" required autocomplete="current-password" aria-describedby="api_key_hint">
<p class="hint" id="api_key_hint">Any API key of your organization (it starts with <code>sb_</code>). It is checked, not stored: you stay signed in for 12 hours.</p>
<div class="actions"><button type="submit">Sign in</button></div>
</form>`,
  );
}

/** Sign-in attempts per minute per client address: enough for a person, nothing for a key guesser. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 10;

/**
 * Whether a form post comes from one of our own pages. Browsers send `Origin` on every POST (and `Sec-Fetch-Site`
 * with it); a form on another site shows that site's origin. SameSite cookies do not cover the sign-in form,
 * which needs no cookie: without this, another site could sign a visitor's browser into an organization of its
 * choosing (login CSRF). A request with neither header is not from a browser form and is refused too.
 */
function fromOurOrigin(req: FastifyRequest, publicOrigin: string): boolean {
  const origin = req.headers.origin;
  if (origin && origin !== 'null') return origin === publicOrigin;
  return req.headers['sec-fetch-site'] === 'same-origin';
}

export function dashboardRoutes(ctx: AppContext, limits: RateLimitStore) {
  const cookieOptions = { httpOnly: true, sameSite: 'strict' as const, path: DASHBOARD, secure: ctx.config.publicUrl.startsWith('https:') };
  const publicOrigin = new URL(ctx.config.publicUrl).origin;
  const loginLimiter = limits.limiter('dashboard-login', LOGIN_ATTEMPTS_PER_MINUTE);

  return async function routes(app: FastifyInstance) {
    app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      if (isDatabaseUnavailable(err) || isRequestTimeout(err)) {
        req.log.warn({ err }, isRequestTimeout(err) ? 'dashboard request timed out' : 'database unavailable');
        reply.header('retry-after', RETRY_AFTER_SECONDS);
        const message = isRequestTimeout(err) ? 'This took too long to answer. Try again in a few seconds.' : DATABASE_UNAVAILABLE_MESSAGE;
        return sendDashboard(reply, 503, dashboardPage({ title: 'Temporarily unavailable', error: message }, `<p><a href="${DASHBOARD}">Back to the dashboard</a></p>`));
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) req.log.error({ err }, 'dashboard request failed');
      const message = status === 500 ? 'Something went wrong on our side. Try again; if it keeps happening, check the server log.' : 'That request could not be understood.';
      return sendDashboard(reply, status, dashboardPage({ title: 'Something went wrong', error: message }, `<p><a href="${DASHBOARD}">Back to the dashboard</a></p>`));
    });

    app.addHook('preHandler', async (req, reply) => {
      if (req.method !== 'POST' || fromOurOrigin(req, publicOrigin)) return;
      req.log.warn({ path: req.routeOptions.url }, 'dashboard form posted from another origin');
      return sendDashboard(
        reply,
        403,
        dashboardPage({ title: 'Form refused', error: 'This form was not sent from this dashboard. Open the dashboard and try again.' }, `<p><a href="${DASHBOARD}">Back to the dashboard</a></p>`),
      );
    });

    app.get(STYLESHEET, async (req, reply) =>
      reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').header('x-content-type-options', 'nosniff').send(STYLES),
    );

    app.get(DASHBOARD, async (req, reply) => reply.redirect(`${DASHBOARD}/accounts`, 303));

    app.get(`${DASHBOARD}/login`, async (req, reply) => sendDashboard(reply, 200, loginPage()));

    app.post(`${DASHBOARD}/login`, async (req, reply) => {
      if (!(await withinLimit(reply, loginLimiter, `address:${req.ip}`, LOGIN_ATTEMPTS_PER_MINUTE))) {
        return sendDashboard(reply, 429, loginPage('Too many sign-in attempts from this address. Wait a minute and try again.'));
      }
      const presented = field.safeParse((req.body as Record<string, unknown> | undefined)?.api_key);
      const key = presented.success ? presented.data.trim() : '';
      const caller = key && key.length <= 256 ? await authenticateApiKey(ctx.db, key) : undefined;
      if (!caller) {
        req.log.info('dashboard sign-in refused');
        return sendDashboard(reply, 401, loginPage('That API key is not valid, or it was revoked. Check it and try again.'));
      }
      const session = await createSession(ctx.db, { orgId: caller.orgId, keyId: caller.keyId });
      reply.setCookie(SESSION_COOKIE, session.id, { ...cookieOptions, expires: session.expiresAt });
      req.log.info({ orgId: caller.orgId, keyId: caller.keyId }, 'dashboard sign-in');
      return reply.redirect(`${DASHBOARD}/networks`, 303);
    });

    await app.register(async (pages) => {
      pages.addHook('preHandler', async (req, reply) => {
        const session = await findSession(ctx.db, req.cookies[SESSION_COOKIE]);
        if (!session) {
          if (req.method === 'GET') return reply.redirect(`${DASHBOARD}/login`, 303);
          return sendDashboard(reply, 401, loginPage('Your session has ended. Sign in again.'));
        }
        logAsOrganization(req, session.orgId);
        // A form with files is read by its page, which checks the token first (multipart.ts).
        if (req.method === 'POST' && !checksOwnCsrf(req)) {
          const token = (req.body as Record<string, unknown> | undefined)?._csrf;
          if (typeof token !== 'string' || !safeEqual(token, session.csrfToken)) {
            req.log.warn({ path: req.routeOptions.url }, 'dashboard form without a valid CSRF token');
            return sendDashboard(
              reply,
              403,
              dashboardPage({ title: 'Form expired', error: 'This form was not sent from your dashboard session. Go back, reload the page and try again.' }, `<p><a href="${DASHBOARD}">Back to the dashboard</a></p>`),
            );
          }
        }
        const branding = await getBranding(ctx.db, session.orgId);
        rememberSignedIn(req, { ...session, organizationName: branding?.name ?? '' });
      });

      pages.post(`${DASHBOARD}/logout`, async (req, reply) => {
        await deleteSession(ctx.db, req.cookies[SESSION_COOKIE]!);
        reply.clearCookie(SESSION_COOKIE, cookieOptions);
        return sendDashboard(reply, 200, dashboardPage({ title: 'Signed out', notice: 'You are signed out.' }, `<p><a href="${DASHBOARD}/login">Sign in again</a></p>`));
      });

      networkPages(pages, ctx);
      accountPages(pages, ctx);
      postPages(pages, ctx);
      composePages(pages, ctx);
      webhookPages(pages, ctx);
      apiKeyPages(pages, ctx);
      brandingPages(pages, ctx);
    });
  };
}
