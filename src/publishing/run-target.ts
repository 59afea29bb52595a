// Publishing one target (one post × one account) under its lease: part by part, through the adapter.
//
// Never a double post. Before the request that creates a part, the adapter calls `beforeCreate`, and the part is
// stored as `creating` with what the adapter needs to look for it. From then until the answer is stored, a worker
// that dies (or a timeout, or a 5xx) leaves the outcome open; whoever takes the target next first settles it — by
// sending again when the network's own exactly-once means make that harmless (`createIsRepeatable`), else by asking
// the adapter to look for the part at the network (`findPart`) — and fails the target as `unknown_outcome` when
// it cannot be told, rather than post twice.
import type { AppContext } from '../context.ts';
import type { TargetPart } from '../db/schema.ts';
import { decryptTokens, publishAccountOf, type AccountRow } from '../accounts/accounts.ts';
import { appCredentialsFor } from '../networks/network-configs.ts';
import {
  NetworkError,
  PublishError,
  RETRIED_CATEGORIES,
  type ErrorCategory,
  type AppCredentials,
  type NetworkAdapter,
  type NetworkId,
  type NetworkPublishing,
  type PartInput,
  type PublishContainer,
  type PublishContext,
  type PublishedPart,
  type SavedProgress,
} from '../providers/types.ts';
import { AccountUnusableError, ensureFreshToken } from '../tokens/refresh.ts';
import { activeMedia, publishMediaFor } from './media-refs.ts';
import { LeaseLost, type TargetLease } from './lease.ts';
import { finishTarget, markReauthRequired, publishFields } from './outcome.ts';
import type { ClaimedTarget } from './claim.ts';
import { checkOptions } from './preflight.ts';
import { storedTargetOptions } from './posts.ts';

/** How many failed attempts each retried category gets before the target fails for good. */
const MAX_ATTEMPTS: Partial<Record<ErrorCategory, number>> = { platform_error: 6, rate_limited: 10, media_unreachable: 3, quota_exhausted: 3 };
const MAX_BACKOFF_S = 30 * 60;
/** A network still processing media after this long is not going to finish: the target fails. */
const PROCESSING_LIMIT_MS = 6 * 3600_000;
const MAX_RESET_WAIT_S = 26 * 3600;

/** How long before its instant a scheduled target is started (ahead.ts): its create then waits for the instant. */
export const START_LEAD_MS = 1_000;

/**
 * A scheduled target's create came up long before its instant (a network prepared ahead, `prepareAheadSeconds`):
 * nothing was sent, and the target is due again at the instant with the adapter's progress.
 */
class NotYet extends Error {
  constructor(
    readonly index: number,
    readonly saved: SavedProgress,
  ) {
    super('not yet');
  }
}

/** Seconds before the next attempt: the network's reset time when it gave one, else exponential with jitter. */
export function retryDelaySeconds(attempt: number, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined) return Math.min(Math.max(1, retryAfterSeconds), MAX_RESET_WAIT_S);
  const base = Math.min(MAX_BACKOFF_S, 5 * 2 ** Math.max(0, attempt - 1));
  return base * (0.8 + Math.random() * 0.4);
}

/** A failure as a `PublishError`: the one the adapter classified, or what a transport failure means. */
export function classify(err: unknown): PublishError {
  if (err instanceof PublishError) return err;
  if (err instanceof NetworkError) {
    if (err.kind === 'permanent') return new PublishError('auth_expired', err.description);
    if (err.kind === 'transient') return new PublishError('platform_error', err.description, { retryAfterSeconds: err.retryAfterSeconds });
    return new PublishError('platform_rejected', err.description);
  }
  return new PublishError('platform_error', 'Publishing failed inside Switchboard; it will be tried again');
}

/** Everything publishing a target needs that can be read before its instant. */
export interface ReadyTarget {
  claimed: ClaimedTarget;
  adapter: NetworkAdapter;
  publishing: NetworkPublishing;
  /** The post's containers as the adapter sees them (media as stored files with their public URLs). */
  containers: PublishContainer[];
  options: Record<string, unknown>;
  app: AppCredentials;
  account: AccountRow;
}

/** A target made ready, or how it ends without a call to the network. */
export type Preparation = { ready: ReadyTarget } | { cancelled: true } | { refused: PublishError };

/** Reads what publishing the target needs: nothing here calls the network or writes. */
export async function prepareTarget(ctx: AppContext, claimed: ClaimedTarget): Promise<Preparation> {
  const { target, post, account } = claimed;
  if (!post || post.status === 'cancelled') return { cancelled: true };
  const adapter = ctx.adapters.get(target.network as NetworkId);
  const publishing = adapter?.publishing;
  if (!adapter || !publishing) return { refused: new PublishError('not_supported', `Publishing to ${target.network} is not available`) };
  if (!account || account.status !== 'active') {
    return { refused: new PublishError('auth_expired', account?.status === 'reauth_required' ? 'The account must be reconnected before it can publish' : 'The account is disconnected') };
  }
  // The post's files, as the adapter sees them. One deleted since the post was accepted fails the target plainly.
  const ids = post.containers.flatMap((c) => c.media.map((m) => m.id));
  const { found, missing } = await activeMedia(ctx, post.orgId, ids);
  if (missing.length) return { refused: new PublishError('user_content', `The media ${missing.join(', ')} no longer exists`) };
  const containers: PublishContainer[] = post.containers.map((c, index) => ({
    index,
    text: c.content,
    media: c.media.map((m) => publishMediaFor(ctx, found.get(m.id)!, m.alt)),
  }));
  const options = checkOptions(adapter, storedTargetOptions(post, target)).options;
  const app = await appCredentialsFor(ctx, post.orgId, adapter);
  return { ready: { claimed, adapter, publishing, containers, options, app, account } };
}

export async function runTarget(ctx: AppContext, claimed: ClaimedTarget, lease: TargetLease): Promise<void> {
  const preparation = await prepareTarget(ctx, claimed);
  if ('ready' in preparation) return publishReady(ctx, preparation.ready, lease);
  const { target } = claimed;
  if ('cancelled' in preparation) return finishTarget(ctx, lease, target, { status: 'cancelled' });
  const f = preparation.refused;
  return finishTarget(ctx, lease, target, { status: 'failed', error: f.message, errorCategory: f.category, attempts: target.attempts + 1 });
}

/** Publishes a ready target part by part under its lease, and records how it ended. */
export async function publishReady(ctx: AppContext, ready: ReadyTarget, lease: TargetLease): Promise<void> {
  const { adapter, publishing, containers, options, app } = ready;
  const { target } = ready.claimed;
  let account = ready.account;
  const parts: TargetPart[] = [...target.parts];

  let refreshedForAuth = false;
  const context = async (): Promise<PublishContext> => {
    const tokens = decryptTokens(ctx.keyring, account);
    if (!tokens) throw new PublishError('auth_expired', 'The account has no token: reconnect it');
    return {
      app,
      accessToken: tokens.accessToken,
      account: publishAccountOf(account),
      options,
    };
  };
  const saveParts = () => lease.saveParts(parts);
  const scheduledAt = ready.claimed.post?.scheduledAt?.getTime() ?? 0;
  const untilScheduled = async () => {
    // A timer may fire a little early on a coarse clock: never before the instant.
    while (Date.now() < scheduledAt) await new Promise((r) => setTimeout(r, scheduledAt - Date.now()));
  };

  try {
    try {
      account = await ensureFreshToken(ctx, account);
    } catch (err) {
      if (err instanceof AccountUnusableError) throw new PublishError('auth_expired', err.reason);
      throw err;
    }
    let root: PublishedPart | null = null;
    let previous: PublishedPart | null = null;
    for (const container of containers) {
      const i = container.index;
      let part: TargetPart = parts[i] ?? { index: i, phase: 'preparing', saved: {} };
      parts[i] = part;
      if (part.phase === 'published') {
        previous = { id: part.id!, url: part.url ?? null, data: part.data };
        root ??= previous;
        continue;
      }
      const input = (ctx_: PublishContext): PartInput => ({
        ...ctx_,
        container,
        root,
        previous,
        saved: part.saved,
        beforeCreate: async (saved) => {
          // Prepared ahead and ready early: come back at the instant rather than hold a worker's slot till then.
          if (scheduledAt - Date.now() > 2 * START_LEAD_MS) throw new NotYet(i, saved);
          part = { ...part, phase: 'creating', saved };
          parts[i] = part;
          await saveParts();
          // Started ahead of its instant (ahead.ts): everything is ready, and the post appears when it was meant to.
          await untilScheduled();
        },
        save: async (saved) => {
          part = { ...part, saved };
          parts[i] = part;
          await saveParts();
        },
      });

      /** The network is still working on this part: the target is due again later, with the adapter's progress. */
      const processLater = async ({ saved, checkAfterSeconds }: { saved: SavedProgress; checkAfterSeconds: number }) => {
        const since = part.processingSince ?? new Date().toISOString();
        if (Date.now() - Date.parse(since) > PROCESSING_LIMIT_MS) {
          throw new PublishError('platform_rejected', `${adapter.displayName} was still processing part ${i + 1} after ${PROCESSING_LIMIT_MS / 3600_000} hours`);
        }
        part = { ...part, phase: 'processing', saved, processingSince: since };
        parts[i] = part;
        await lease.update({ parts, dueAt: new Date(Date.now() + Math.max(1, checkAfterSeconds) * 1000), leaseUntil: null });
      };

      // A create that may have reached the network: settle it before anything is sent again.
      if (part.phase === 'creating' && !publishing.createIsRepeatable) {
        const found = publishing.findPart ? await publishing.findPart(input(await context())) : 'unknown';
        if (found === 'unknown') {
          throw new PublishError('unknown_outcome', `${adapter.displayName} may or may not have published part ${i + 1}; it was not sent again so as not to post twice. Check the account, then retry the post if it is missing.`);
        }
        // Made, and still being processed at the network: poll it from here as publishPart would have.
        if (found !== 'absent' && 'status' in found) return processLater(found);
        if (found !== 'absent') {
          part = { ...part, phase: 'published', id: found.id, url: found.url, data: found.data };
          parts[i] = part;
          await saveParts();
          previous = found;
          root ??= found;
          continue;
        }
        part = { ...part, phase: 'preparing' };
        parts[i] = part;
      }

      let outcome;
      for (;;) {
        try {
          outcome = await publishing.publishPart(input(await context()));
          break;
        } catch (err) {
          if (err instanceof LeaseLost || err instanceof NotYet) throw err;
          const failure = classify(err);
          // A refusal the network answered leaves nothing at the network; a 5xx or a lost answer may have.
          if (part.phase === 'creating' && failure.category !== 'platform_error') {
            part = { ...part, phase: 'preparing' };
            parts[i] = part;
          }
          if (failure.category === 'auth_expired' && !refreshedForAuth) {
            // The token may have died early (revoked and re-granted, rotated elsewhere): refresh once and go again.
            refreshedForAuth = true;
            try {
              account = await ensureFreshToken(ctx, account, { force: true });
            } catch {
              throw failure;
            }
            continue;
          }
          throw failure;
        }
      }
      if (outcome.status === 'processing') return processLater(outcome);
      part = { ...part, phase: 'published', id: outcome.part.id, url: outcome.part.url, data: outcome.part.data };
      parts[i] = part;
      previous = outcome.part;
      root ??= outcome.part;
      // Not stored on its own: the next part's beforeCreate (or the target's end) stores it with everything else, and a
      // worker dying in between leaves this part `creating`, which the next one settles by looking before sending.
    }
    const first = parts[0];
    await finishTarget(ctx, lease, target, {
      status: 'published',
      parts,
      platformPostId: first?.id ?? null,
      platformPostUrl: first?.url ?? null,
      publishedAt: new Date(),
      error: null,
      errorCategory: null,
      attempts: target.attempts + 1,
    });
  } catch (err) {
    if (err instanceof LeaseLost) throw err;
    if (err instanceof NotYet) {
      parts[err.index] = { ...parts[err.index], phase: 'processing', saved: err.saved };
      await lease.update({ parts, dueAt: new Date(scheduledAt), leaseUntil: null });
      return;
    }
    const failure = classify(err);
    if (!(err instanceof PublishError) && !(err instanceof NetworkError)) {
      ctx.log.error({ ...publishFields(target), err }, 'publishing failed unexpectedly');
    }
    const attempts = target.attempts + 1;
    const max = MAX_ATTEMPTS[failure.category];
    const retried = RETRIED_CATEGORIES.has(failure.category) && (failure.category !== 'quota_exhausted' || failure.retryAfterSeconds !== undefined);
    if (retried && max !== undefined && attempts < max) {
      const delay = retryDelaySeconds(attempts, failure.retryAfterSeconds);
      await lease.update({ parts, attempts, error: failure.message, errorCategory: failure.category, dueAt: new Date(Date.now() + delay * 1000), leaseUntil: null });
      ctx.log.info({ ...publishFields(target), category: failure.category, attempts, retryInSeconds: Math.round(delay) }, 'publish attempt failed; will retry');
      return;
    }
    // Given up while a create may have reached the network: say so, rather than name only the last failure.
    const open = parts.find((p) => p?.phase === 'creating');
    const final =
      open && failure.category !== 'unknown_outcome'
        ? new PublishError('unknown_outcome', `${adapter.displayName} may or may not have published part ${open.index + 1}, and it could not be checked (${failure.message}); it was not sent again so as not to post twice.`)
        : failure;
    await finishTarget(ctx, lease, target, { status: 'failed', error: final.message, errorCategory: final.category, attempts, parts });
    if (final.category === 'auth_expired' && account.status === 'active') await markReauthRequired(ctx, account.id, final.message);
    ctx.log.info({ ...publishFields(target), category: final.category, attempts }, 'publish failed');
  }
}
