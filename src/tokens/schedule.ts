// When to refresh: ahead of expiry with jitter, and backoff after transient failures.
import type { NetworkAdapter, TokenSet } from '../providers/types.ts';

/** Whether the engine can renew these tokens at all (else the account is only warned about before expiry). */
export function refreshable(adapter: NetworkAdapter | undefined, tokens: TokenSet, metadata: Record<string, unknown>): boolean {
  if (!adapter?.refresh) return false;
  return adapter.canRefresh ? adapter.canRefresh(tokens, metadata) : Boolean(tokens.refreshToken);
}

/**
 * When the background engine should refresh a token: well ahead of expiry (a fifth of its lifetime, between
 * 5 minutes and 7 days — Meta's 60-day tokens are re-exchanged a week early), spread by jitter so accounts
 * connected together do not all refresh together. `null`: the token never expires or cannot be refreshed.
 */
export function nextRefreshTime(expiresAt: Date | null, canRefresh: boolean, now = Date.now()): Date | null {
  if (!expiresAt || !canRefresh) return null;
  const lifetime = Math.max(0, expiresAt.getTime() - now);
  const ahead = Math.min(Math.max(lifetime * 0.2, 5 * 60_000), 7 * 24 * 3600_000);
  const jitter = Math.random() * Math.min(lifetime * 0.05, 3600_000);
  return new Date(Math.max(now, expiresAt.getTime() - ahead - jitter));
}

/** Exponential backoff with jitter after `failures` transient failures: 30 s, 1 min, 2 min … capped at 1 h. */
export function backoffMs(failures: number, retryAfterSeconds?: number): number {
  const base = Math.min(30_000 * 2 ** Math.max(0, failures - 1), 3600_000);
  return Math.max(base * (0.75 + Math.random() * 0.5), (retryAfterSeconds ?? 0) * 1000);
}
