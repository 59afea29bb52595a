// The connection flow, network-agnostic: every network-specific step is a call on its adapter.
//
//   createFlow      POST /v1/social-networks/{network}/auth-url → one-time start URL (15 min)
//   beginFlow       GET  /connect/{token}        → state + PKCE + browser-binding cookie → network
//   completeCallback GET /oauth/{network}/callback → code exchange → profiles → account(s) or selection
//   finishSelection hosted page or headless finalize → account(s)
//
// Every secret a browser or client carries (start token, state, binding cookie, selection session) is stored
// as its SHA-256; each step claims the flow with a conditional UPDATE, so each is single use even when two
// requests race.
import { and, eq, gt, lte, or } from 'drizzle-orm';
import type { AppContext } from '../context.ts';
import { callbackUrl } from '../context.ts';
import { findAccount, upsertConnectedAccounts, type AccountRow } from '../accounts/accounts.ts';
import { batched } from '../db/batch.ts';
import { perDatabase } from '../db/database.ts';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { insertRows, rawQuery } from '../db/raw.ts';
import { connectFlows, networkConfigs } from '../db/schema.ts';
import { appCredentials, type NetworkConfigRow } from '../networks/network-configs.ts';
import { NetworkError, type ConnectableProfile, type NetworkAdapter, type NetworkId } from '../providers/types.ts';
import { contexts } from '../security/encrypted-columns.ts';
import { newId } from '../security/ids.ts';
import { pkcePair, randomToken, safeEqual, sha256 } from '../security/secrets.ts';

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

// auth-url is the hot write of the API: its flow rows are inserted in batches (see db/batch.ts).
const flowInserts = perDatabase((db) =>
  batched(async (rows: (typeof connectFlows.$inferInsert)[]) => {
    const insert = insertRows(connectFlows, rows);
    await rawQuery(db, insert.text, insert.params, { prepare: true });
    return rows.map(() => undefined);
  }),
);

export async function createFlow(ctx: AppContext, orgId: string, config: NetworkConfigRow, input: CreateFlowInput) {
  const token = randomToken(32);
  const expiresAt = new Date(Date.now() + FLOW_TTL_MS);
  await flowInserts(ctx.db)({
    id: newId(),
    orgId,
    network: config.network,
    networkConfigId: config.id,
    status: 'created',
    startTokenHash: sha256(token),
    redirectUri: input.redirectUri ?? null,
    tenantId: input.tenantId ?? null,
    workspaceId: input.workspaceId ?? null,
    accountId: input.accountId ?? null,
    selection: input.selection,
    startPage: input.startPage ?? false,
    expiresAt,
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

/**
 * The flow behind a start token, without claiming it: for the "Continue" page and HEAD requests, which link
 * previews and mail scanners send before the person opens the link.
 */
export async function peekStartFlow(ctx: AppContext, token: string): Promise<FlowRow> {
  const [flow] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.startTokenHash, sha256(token)));
  if (!flow || flow.status !== 'created' || flow.expiresAt.getTime() <= Date.now()) throw unusable(flow, 'connection link');
  return flow;
}

/** GET /connect/{token}: claims the start token and returns where to send the browser, plus the cookie to set. */
export async function beginFlow(ctx: AppContext, token: string) {
  const state = randomToken(32);
  const binding = randomToken(32);
  const pkce = pkcePair();
  const now = new Date();
  const [flow] = await ctx.db
    .update(connectFlows)
    .set({ status: 'authorizing', stateHash: sha256(state), browserBindingHash: sha256(binding) })
    .where(and(eq(connectFlows.startTokenHash, sha256(token)), eq(connectFlows.status, 'created'), gt(connectFlows.expiresAt, now)))
    .returning();
  if (!flow) {
    const [known] = await ctx.db.select().from(connectFlows).where(eq(connectFlows.startTokenHash, sha256(token)));
    throw unusable(known, 'connection link');
  }
  const { config, adapter } = await loadConfig(ctx, flow).catch(duringFlow(flow));
  if (adapter.usesPkce) {
    const codeVerifierEnc = ctx.keyring.encrypt(pkce.verifier, contexts.connectFlowCodeVerifier(flow.id));
    await ctx.db.update(connectFlows).set({ codeVerifierEnc }).where(eq(connectFlows.id, flow.id)).catch(duringFlow(flow));
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
