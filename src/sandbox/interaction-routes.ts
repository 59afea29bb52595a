// The sandbox's sign-in and consent screen: one form, a username and Allow/Deny. Allow logs the user in and grants
// everything the client asked for in one step; Deny sends the client `access_denied`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import type Provider from 'oidc-provider';
import { consentPage, errorPage, PAGE_CSP } from './pages.ts';
import { USERNAME_PATTERN } from './people.ts';
import { SANDBOX_PATH, type SandboxProvider } from './provider.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type InteractionRequest = FastifyRequest<{ Params: { uid: string }; Body: Record<string, string> | undefined }>;

const BAD_USERNAME = 'A username is 1 to 40 letters, digits, dots, dashes or underscores, starting with a letter or digit.';
const DENIED = { error: 'access_denied', error_description: 'The user denied the request' };

export function interactionRoutes(scope: FastifyInstance, sandboxProvider: SandboxProvider): void {
  // This context's only body is the consent form; parsed here so the sandbox does not depend on the host app.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  scope.get(`${SANDBOX_PATH}/interaction/:uid`, async (req: InteractionRequest, reply) => {
    const provider = await sandboxProvider();
    const interaction = await findInteraction(provider, req, reply);
    if (!interaction) return sendExpired(reply);
    return sendHtml(reply, 200, consentPage({ action: actionOf(interaction), scopes: requestedScopes(interaction) }));
  });

  scope.post(`${SANDBOX_PATH}/interaction/:uid`, async (req: InteractionRequest, reply) => {
    const provider = await sandboxProvider();
    const interaction = await findInteraction(provider, req, reply);
    if (!interaction) return sendExpired(reply);
    const form = req.body ?? {};
    const username = (form.username ?? '').trim().toLowerCase();
    const rerender = (error: string) =>
      sendHtml(reply, 400, consentPage({ action: actionOf(interaction), scopes: requestedScopes(interaction), username, error }));

    let result: InteractionResults;
    if (form.decision === 'deny') {
      result = DENIED;
    } else if (form.decision !== 'allow') {
      return rerender('Choose Allow or Deny.');
    } else if (!USERNAME_PATTERN.test(username)) {
      return rerender(BAD_USERNAME);
    } else {
      result = { login: { accountId: username }, consent: { grantId: await grantEverything(provider, interaction, username) } };
    }
    // `interactionResult` + our own redirect rather than `interactionFinished`, which would write to the raw
    // response behind Fastify's back; the answer is the same 303 to the authorization endpoint's resume URL.
    const returnTo = await provider.interactionResult(req.raw, reply.raw, result, { mergeWithLastSubmission: false });
    return reply.redirect(returnTo, 303);
  });
}

/** The interaction this browser is in (its cookie is scoped to this very path), if it still exists. */
async function findInteraction(provider: Provider, req: InteractionRequest, reply: FastifyReply): Promise<Interaction | undefined> {
  try {
    const interaction = await provider.interactionDetails(req.raw, reply.raw);
    return interaction.uid === req.params.uid ? interaction : undefined;
  } catch (err) {
    // Already loaded with the provider: this import only looks the module up.
    const { errors } = await import('oidc-provider');
    if (err instanceof errors.SessionNotFound) return undefined;
    throw err;
  }
}

/** A grant for every scope the client requested: the sandbox user consents to all or nothing. */
async function grantEverything(provider: Provider, interaction: Interaction, accountId: string): Promise<string> {
  const grant = new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
  grant.addOIDCScope(requestedScopes(interaction).join(' '));
  return grant.save();
}

function requestedScopes(interaction: Interaction): string[] {
  return String(interaction.params.scope ?? '').split(' ').filter(Boolean);
}

function actionOf(interaction: Interaction): string {
  return `${SANDBOX_PATH}/interaction/${interaction.uid}`;
}

function sendExpired(reply: FastifyReply) {
  return sendHtml(reply, 400, errorPage('This sign-in has expired', 'Go back to the app you came from and connect again.'));
}

function sendHtml(reply: FastifyReply, status: number, html: string) {
  return reply
    .code(status)
    .header('content-security-policy', PAGE_CSP)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(html);
}
