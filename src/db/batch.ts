// Group commit for hot single-row writes (a rate-limit counter per API request; until start links were sealed
// into their URLs, a connection flow per auth-url request too). Each caller still waits until its own row is
// durably written, but rows that arrive while a write is in flight go to the database together in the next one:
// under load, N concurrent requests cost one round trip and one commit instead of N, and a lone request waits
// for nothing (there is no timer).

import { isDatabaseUnavailable } from './unavailable.ts';

export interface BatchOptions {
  /** Rows per statement at most (PostgreSQL takes up to 65,535 parameters per statement). */
  maxBatch?: number;
  /**
   * Writes in flight at once. One (the default) measured best for connection flows: a second writer halves the
   * batch size, and the extra statements and commits cost more than the overlap saves (bench/auth-url.ts).
   */
  concurrency?: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * `write(items)` must return one result per item, in order. When a batch fails and held more than one item,
 * each item is retried alone, so one bad row (a foreign key gone meanwhile) fails only its own caller; unless
 * the database is unavailable, which fails them all at once.
 */
export function batched<T, R>(write: (items: T[]) => Promise<R[]>, opts: BatchOptions = {}): (item: T) => Promise<R> {
  const maxBatch = opts.maxBatch ?? 200;
  const concurrency = opts.concurrency ?? 1;
  const queue: Pending<T, R>[] = [];
  let running = 0;

  async function settle(batch: Pending<T, R>[]) {
    try {
      const results = await write(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      // An outage fails every row alike: retrying each alone would make the last caller wait one timeout per row.
      if (batch.length === 1 || isDatabaseUnavailable(err)) return batch.forEach((p) => p.reject(err));
      await Promise.all(batch.map((p) => settle([p])));
    }
  }

  async function run() {
    running++;
    try {
      while (queue.length) await settle(queue.splice(0, maxBatch));
    } finally {
      running--;
    }
  }

  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      // The microtask lets rows added in the same tick join this batch.
      if (running < concurrency) queueMicrotask(() => void (queue.length && running < concurrency && run()));
    });
}
