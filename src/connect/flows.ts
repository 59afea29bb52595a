// The connection flow, network-agnostic: every network-specific step is a call on its adapter.
//
//   createStartUrl  POST /v1/social-networks/{network}/auth-url → one-time start URL (15 min), written nowhere:
//                   the flow's start is sealed into the URL (start-links.ts)
//   beginFlow       GET  /connect/{token}        → the flow's row, state + PKCE + browser-binding cookie → network
//   completeCallback GET /oauth/{network}/callback → code exchange → profiles → account(s) or selection
//   finishSelection hosted page or headless finalize → account(s)
//
// Every secret a browser or client carries (the start link's nonce, state, binding cookie, selection session) is
// stored as its SHA-256. Opening a start link inserts its flow only if no flow has its nonce yet, and each later
// step claims the flow with a conditional UPDATE, so each is single use even when two requests race.
import { and, eq, gt, lte, or } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { callbackUrl } from '../context.ts';
import { findAccount, upsertConnectedAccounts, type AccountRow } from '../accounts/accounts.ts';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { connectFlows, networkConfigs } from '../db/schema.ts';
import { appCredentials, type NetworkConfigRow } from '../networks/network-configs.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter, type NetworkId } from '../providers/types.ts';
import { contexts } from '../security/encrypted-columns.ts';
import { newId } from '../security/ids.ts';
import { pkcePair, randomToken, safeEqual, sha256 } from '../security/secrets.ts';
import { openStartLink, redirectFingerprint, sealStartLink } from './start-links.ts';

export const FLOW_TTL_MS = 15 * 60 * 1000;
export type FlowRow = typeof connectFlows.$inferSelect;

/** A failure the end user sees: an OAuth-style code for the redirect and plain words for people. */
export class FlowError extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
    /** The flow it belongs to, when known: its `redirect_uri` receives the error. */
    readonly flow?: FlowRow,
    /**
     * Whether the error ends the flow. A replayed link or response does not: the browser that really holds
     * the flow may still be completing it.
     */
    readonly endsFlow = true,
    cause?: unknown,
  ) {
    super(description, cause === undefined ? undefined : { cause });
  }
}

export const OUTAGE_DESCRIPTION = 'We could not complete the connection just now. Please try again in a few seconds.';

/**
 * For `.catch` on a step after the flow is known: a database outage becomes `temporarily_unavailable` for the
 * flow's redirect_uri. It does not end the flow: marking it failed would need the database that just failed.
 */
export function duringFlow(flow: FlowRow) {
  return (err: unknown): never => {
    if (isDatabaseUnavailable(err)) throw new FlowError('temporarily_unavailable', OUTAGE_DESCRIPTION, flow, false, err);
    throw err;
  };
}

/** Name of the cookie binding a flow to the browser that started it (one per flow: parallel flows coexist). */
export const bindingCookieName = (flowId: string) => `sb_flow_${flowId}`;

export interface CreateFlowInput {
  redirectUri?: string;
  tenantId?: string;
  workspaceId?: string;
  accountId?: string;
  selection: 'hosted' | 'headless';
  /** The start URL shows a "Continue to {network}" page first (links that are forwarded and previewed). */
  startPage?: boolean;
}

/**
 * A one-time start URL for a flow of this organization's `config`. It writes nothing: most start URLs are made
 * ahead of time and never opened, and the flow's row is made when one is (beginFlow).
 */
export function createStartUrl(ctx: AppContext, orgId: string, config: NetworkConfigRow, input: CreateFlowInput) {
  const { token, expiresAt } = sealStartLink(ctx.keyring, {
    orgId,
    networkConfigId: config.id,
    workspaceId: input.workspaceId,
    accountId: input.accountId,
    tenantId: input.tenantId,
    redirectUri: input.redirectUri,
    selection: input.selection,
    startPage: input.startPage ?? false,
    expiresAt: new Date(Date.now() + FLOW_TTL_MS),
  });
  return { authUrl: `${ctx.config.publicUrl}/connect/${token}`, expiresAt };
}

async function loadConfig(ctx: AppContext, flow: FlowRow): Promise<{ config: NetworkConfigRow; adapter: NetworkAdapter }> {
  const [config] = await ctx.db.select().from(networkConfigs).where(eq(networkConfigs.id, flow.networkConfigId));
  const adapter = ctx.adapters.get(flow.network as NetworkId);
  if (!config || !adapter) throw new FlowError('invalid_request', 'This network is no longer configured.', flow);
  return { config, adapter };
}

/** Why a flow that could not be claimed is unusable, in words for the person holding the link. */
function unusable(flow: FlowRow | undefined, what: string): FlowError {
  if (!flow) return new FlowError('invalid_request', `This ${what} is not valid. Start the connection again.`);
  if (flow.expiresAt.getTime() <= Date.now()) return new FlowError('invalid_request', `This ${what} has expired. Start the connection again.`, flow);
  return new FlowError('invalid_request', `This ${what} was already used. Start the connection again.`, flow, false);
}

/** A start link read and checked against the database as it is now: the flow it begins, not yet stored. */
export interface StartingFlow {
  /** The row beginFlow will insert (its `id` is new; `startTokenHash` is the hash of the link's nonce). */
  flow: FlowRow;
  config: NetworkConfigRow;
  adapter: NetworkAdapter;
  /** A start token of the versions that wrote the flow at auth-url time: its row exists, `created`. */
  legacy?: true;
}

const NO_LONGER_CONFIGURED = 'This connection link no longer works: its network is no longer configured. Start the connection again.';

/**
 * Opens a start link: refused when it was not sealed here with a key still in the ring (or was altered), when
 * its organization or network configuration was removed meanwhile (the configuration goes with its organization),
 * when its redirect URI is no longer allowed, or when it has expired. Writes nothing.
 */
export async function readStartLink(ctx: AppContext, token: string): Promise<StartingFlow> {
  const link = openStartLink(ctx.keyring, token);
  if (!link) return readLegacyStartToken(ctx, token);
  // The row itself, not networkConfigForFlow's remembered copy: a configuration removed a moment ago is gone.
  const [config] = await ctx.db
    .select()
    .from(networkConfigs)
    .where(and(eq(networkConfigs.id, link.networkConfigId), eq(networkConfigs.orgId, link.orgId)));
  const adapter = config && ctx.adapters.get(config.network as NetworkId);
  if (!config || !adapter) throw new FlowError('invalid_request', NO_LONGER_CONFIGURED);
  const redirectUri = link.redirectFingerprint === undefined ? null : config.redirectUris.find((uri) => redirectFingerprint(uri) === link.redirectFingerprint);
  if (redirectUri === undefined) {
    throw new FlowError('invalid_request', 'This connection link no longer works: the address it returns to is no longer allowed. Start the connection again.');
  }
  const flow: FlowRow = {
    id: newId(),
    orgId: link.orgId,
    network: config.network,
    networkConfigId: config.id,
    status: 'authorizing',
    startTokenHash: sha256(link.nonce),
    stateHash: null,
    browserBindingHash: null,
    codeVerifierEnc: null,
    sessionHash: null,
    pendingProfilesEnc: null,
    redirectUri,
    tenantId: link.tenantId ?? null,
    workspaceId: link.workspaceId ?? null,
    accountId: link.accountId ?? null,
    selection: link.selection,
    startPage: link.startPage,
    expiresAt: link.expiresAt,
    createdAt: new Date(),
  };
  // Told at its redirect_uri, as a stored flow's expiry is; there is no row to end.
  if (flow.expiresAt.getTime() <= Date.now()) throw new FlowError('invalid_request', 'This connection link has expired. Start the connection again.', flow, false);
  return { flow, config, adapter };
}

// Links made just before an upgrade (or by a process not yet upgraded) keep working for their 15 minutes: the
// 43-character random start token of earlier versions, whose flow was written at auth-url time.
const LEGACY_TOKEN = /^[A-Za-z0-9_-]{43}$/;

async function readLegacyStartToken(ctx: AppContext, token: string): Promise<StartingFlow> {
  if (!LEGACY_TOKEN.test(token)) throw unusable(undefined, 'connection link');
  const [flow] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.startTokenHash, sha256(token)));
  if (!flow || flow.status !== 'created' || flow.expiresAt.getTime() <= Date.now()) throw unusable(flow, 'connection link');
  return { flow, ...(await loadConfig(ctx, flow).catch(duringFlow(flow))), legacy: true };
}

/** Refuses a start link that was opened already (its nonce has a flow). */
export async function ensureUnopened(ctx: AppContext, starting: StartingFlow): Promise<void> {
  if (starting.legacy) return; // readLegacyStartToken found it unopened
  const [opened] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.startTokenHash, starting.flow.startTokenHash));
  if (opened) throw unusable(opened, 'connection link');
}

/**
 * The flow behind a start link, without starting it: for the "Continue" page and HEAD requests, which link
 * previews and mail scanners send before the person opens the link.
 */
export async function peekStartFlow(ctx: AppContext, token: string): Promise<FlowRow> {
  const starting = await readStartLink(ctx, token);
  await ensureUnopened(ctx, starting);
  return starting.flow;
}

const isForeignKeyViolation = (err: unknown): boolean =>
  (err as { code?: unknown })?.code === '23503' || (err as { cause?: { code?: unknown } })?.cause?.code === '23503';

/**
 * GET /connect/{token}: stores the link's flow, once (a second opening, even a simultaneous one, finds its nonce
 * taken), and returns where to send the browser, plus the cookie to set.
 */
export async function beginFlow(ctx: AppContext, starting: StartingFlow) {
  const { config, adapter } = starting;
  const state = randomToken(32);
  const binding = randomToken(32);
  const pkce = pkcePair();
  const started = {
    status: 'authorizing' as const,
    stateHash: sha256(state),
    browserBindingHash: sha256(binding),
    codeVerifierEnc: adapter.usesPkce ? ctx.keyring.encrypt(pkce.verifier, contexts.connectFlowCodeVerifier(starting.flow.id)) : null,
  };
  const [flow] = starting.legacy
    ? await ctx.db
        .update(connectFlows)
        .set(started)
        .where(and(eq(connectFlows.id, starting.flow.id), eq(connectFlows.status, 'created'), gt(connectFlows.expiresAt, new Date())))
        .returning()
    : await ctx.db
        .insert(connectFlows)
        .values({ ...starting.flow, ...started })
        .onConflictDoNothing({ target: connectFlows.startTokenHash })
        .returning()
        .catch((err: unknown) => {
          // Its configuration was removed between readStartLink and here (the flow's foreign key).
          if (isForeignKeyViolation(err)) throw new FlowError('invalid_request', NO_LONGER_CONFIGURED);
          throw err;
        });
  if (!flow) {
    const [opened] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.startTokenHash, starting.flow.startTokenHash));
    throw unusable(opened, 'connection link');
  }
  let location: string;
  try {
    location = adapter.authorizationUrl({
      app: appCredentials(ctx, config, adapter),
      redirectUri: callbackUrl(ctx.config.publicUrl, flow.network),
      state,
      codeChallenge: adapter.usesPkce ? pkce.challenge : undefined,
    });
  } catch (err) {
    if (err instanceof NetworkError) throw new FlowError(err.code, err.description, flow);
    throw err;
  }
  return { flow, location, cookie: { name: bindingCookieName(flow.id), value: binding, expiresAt: flow.expiresAt } };
}

/**
 * The flow must be this browser's. A request without the binding cookie does not end the flow: whoever sent it
 * (a link preview, someone who saw the state or session in a URL) must not be able to cancel the connection that
 * the right browser is still completing.
 */
function checkBinding(flow: FlowRow, cookies: Record<string, string | undefined>) {
  const presented = cookies[bindingCookieName(flow.id)];
  if (!presented || !flow.browserBindingHash || !safeEqual(sha256(presented), flow.browserBindingHash)) {
    throw new FlowError(
      'access_denied',
      'This sign-in was started in a different browser (or its cookie is missing). Start the connection again in this browser.',
      flow,
      false,
    );
  }
}

export type FlowOutcome =
  | { kind: 'connected'; flow: FlowRow; accounts: AccountRow[] }
  | { kind: 'select'; flow: FlowRow; session: string };

/** GET /oauth/{network}/callback. */
export async function completeCallback(
  ctx: AppContext,
  network: string,
  params: Record<string, string>,
  cookies: Record<string, string | undefined>,
): Promise<FlowOutcome> {
  if (!params.state) throw new FlowError('invalid_request', 'The network sent no state: this response cannot be matched to a connection.');
  const stateHash = sha256(params.state);
  const [known] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.stateHash, stateHash));
  if (!known || known.status !== 'authorizing') throw unusable(known, 'sign-in response');
  // Before anything ends the flow, it must be this browser's (checkBinding).
  checkBinding(known, cookies);
  // Then claim it: whatever happens next, this state is never accepted again.
  const [flow] = await ctx.db
    .update(connectFlows)
    .set({ status: 'failed' })
    .where(and(eq(connectFlows.id, known.id), eq(connectFlows.status, 'authorizing')))
    .returning();
  if (!flow) throw unusable(known, 'sign-in response');
  if (flow.network !== network) {
    throw new FlowError('invalid_request', 'This sign-in response arrived for a different network than the one it was started for.', flow);
  }
  if (flow.expiresAt.getTime() <= Date.now()) throw unusable(flow, 'connection');
  const { config, adapter } = await loadConfig(ctx, flow).catch(duringFlow(flow));
  const refusal = adapter.callbackError?.(params);
  if (refusal) throw new FlowError(refusal.code, refusal.description, flow);
  if (params.error) {
    const denied = params.error === 'access_denied';
    throw new FlowError(
      params.error,
      denied ? 'The connection was cancelled: permission was not granted.' : (params.error_description || `The network answered: ${params.error}`),
      flow,
    );
  }
  if (!params.code) throw new FlowError('invalid_request', 'The network sent no authorization code.', flow);

  const app = appCredentials(ctx, config, adapter);
  let profiles: ConnectableProfile[];
  try {
    const tokens = await adapter.exchangeCode({
      app,
      code: params.code,
      redirectUri: callbackUrl(ctx.config.publicUrl, flow.network),
      codeVerifier: flow.codeVerifierEnc ? ctx.keyring.decrypt(flow.codeVerifierEnc, contexts.connectFlowCodeVerifier(flow.id)) : undefined,
      callbackParams: params,
    });
    profiles = await adapter.fetchProfiles({ app, tokens });
  } catch (err) {
    if (err instanceof NetworkError) throw new FlowError(err.kind === 'transient' ? 'temporarily_unavailable' : err.code, err.description, flow);
    throw err;
  }
  if (profiles.length === 0) throw new FlowError('access_denied', `No ${adapter.displayName} profile was shared with this app.`, flow);

  if (flow.accountId) {
    // Reconnect: only the account being reconnected may come back, and it keeps its id.
    const account = await findAccount(ctx.db, flow.orgId, flow.accountId).catch(duringFlow(flow));
    const match = profiles.find((p) => p.networkUniqueId === account?.networkUniqueId);
    if (!account || !match) {
      throw new FlowError('access_denied', `You signed in with a different ${adapter.displayName} account than the one being reconnected.`, flow);
    }
    return { kind: 'connected', flow, accounts: await connect(ctx, flow, [match]).catch(duringFlow(flow)) };
  }
  if (profiles.length === 1) return { kind: 'connected', flow, accounts: await connect(ctx, flow, profiles).catch(duringFlow(flow)) };

  const session = randomToken(32);
  const [selecting] = await ctx.db
    .update(connectFlows)
    .set({
      status: 'selecting',
      sessionHash: sha256(session),
      pendingProfilesEnc: ctx.keyring.encrypt(JSON.stringify(profiles), contexts.connectFlowPendingProfiles(flow.id)),
      expiresAt: new Date(Date.now() + FLOW_TTL_MS),
    })
    .where(eq(connectFlows.id, flow.id))
    .returning()
    .catch(duringFlow(flow));
  return { kind: 'select', flow: selecting, session };
}

async function connect(ctx: AppContext, flow: FlowRow, profiles: ConnectableProfile[]) {
  return ctx.db.transaction(async (tx) => {
    const accounts = await upsertConnectedAccounts(
      ctx,
      tx,
      { orgId: flow.orgId, network: flow.network as NetworkId, tenantId: flow.tenantId, workspaceId: flow.workspaceId, accountId: flow.accountId },
      profiles,
    );
    await tx
      .update(connectFlows)
      .set({ status: 'completed', pendingProfilesEnc: null, codeVerifierEnc: null })
      .where(eq(connectFlows.id, flow.id));
    return accounts;
  });
}

export interface PendingSelection {
  flow: FlowRow;
  profiles: ConnectableProfile[];
}

/**
 * A flow waiting for its profiles to be chosen. The hosted page passes the browser's cookies (the flow must be
 * this browser's); the headless API passes the caller's organization instead.
 */
export async function findPendingSelection(
  ctx: AppContext,
  session: string,
  proof: { cookies: Record<string, string | undefined> } | { orgId: string },
): Promise<PendingSelection> {
  const [flow] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.sessionHash, sha256(session)));
  if (!flow || ('orgId' in proof && flow.orgId !== proof.orgId)) throw new FlowError('invalid_request', 'This selection session is not valid.');
  if (flow.status !== 'selecting') throw unusable(flow, 'selection session');
  if (flow.expiresAt.getTime() <= Date.now()) throw unusable(flow, 'selection session');
  if ('cookies' in proof) checkBinding(flow, proof.cookies);
  const profiles = JSON.parse(ctx.keyring.decrypt(flow.pendingProfilesEnc!, contexts.connectFlowPendingProfiles(flow.id))) as ConnectableProfile[];
  for (const p of profiles) {
    p.tokens.expiresAt = p.tokens.expiresAt ? new Date(p.tokens.expiresAt) : null;
    if (p.tokens.refreshTokenExpiresAt) p.tokens.refreshTokenExpiresAt = new Date(p.tokens.refreshTokenExpiresAt);
  }
  return { flow, profiles };
}

/** Connects the chosen profiles. Single use: a second finalize of the same session finds nothing to claim. */
export async function finishSelection(ctx: AppContext, pending: PendingSelection, selectedIds: string[]): Promise<AccountRow[]> {
  const chosen = pending.profiles.filter((p) => selectedIds.includes(p.networkUniqueId));
  return ctx.db.transaction(async (tx) => {
    const [claimed] = await tx
      .update(connectFlows)
      .set({ status: 'completed', pendingProfilesEnc: null, codeVerifierEnc: null })
      .where(and(eq(connectFlows.id, pending.flow.id), eq(connectFlows.status, 'selecting')))
      .returning({ id: connectFlows.id });
    if (!claimed) throw unusable(pending.flow, 'selection session');
    return upsertConnectedAccounts(
      ctx,
      tx,
      { orgId: pending.flow.orgId, network: pending.flow.network as NetworkId, tenantId: pending.flow.tenantId, workspaceId: pending.flow.workspaceId },
      chosen,
    );
  });
}

/** Marks a flow failed (if it is not already over) after an error the user is told about. */
export async function failFlow(ctx: AppContext, flow: FlowRow) {
  await ctx.db
    .update(connectFlows)
    .set({ status: 'failed', pendingProfilesEnc: null, codeVerifierEnc: null })
    .where(and(eq(connectFlows.id, flow.id), or(eq(connectFlows.status, 'authorizing'), eq(connectFlows.status, 'selecting'), eq(connectFlows.status, 'failed'))));
}

/** Housekeeping for the worker: flows a day past their expiry are of no further use, even as replay evidence. */
export async function deleteStaleFlows(ctx: AppContext) {
  const cutoff = new Date(Date.now() - 24 * 60 * 60 * 1000);
  const rows = await ctx.db.delete(connectFlows).where(lte(connectFlows.expiresAt, cutoff)).returning({ id: connectFlows.id });
  return rows.length;
}
