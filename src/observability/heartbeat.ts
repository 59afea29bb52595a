// Worker heartbeats: each running worker (`switchboard worker`, or the one inside `serve`) keeps a row in
// `worker_heartbeats` and renews its `beat_at` every few seconds; `/ready` reads the freshest. The beat runs on its
// own timer, so it says "a worker process is alive and reaches the database", not "its last job was quick": a
// refresh batch waiting on a slow network must not make every instance unready. A worker that stops cleanly
// deletes its row; one that dies leaves a row that grows stale. Times are the database's (now()), so the clocks
// of the machines involved never matter.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Db } from '../db/database.ts';
import { rawQuery } from '../db/raw.ts';
import { newId } from '../security/ids.ts';

const BEAT = `insert into worker_heartbeats (id, host, pid, started_at, beat_at) values ($1, $2, $3, $4, now())
  on conflict (id) do update set beat_at = now()`;
const END = `delete from worker_heartbeats where id = $1`;
// Rows of workers that died long ago are of no use to anyone; any live worker clears them now and then.
const FORGET_DEAD = `delete from worker_heartbeats where beat_at < now() - interval '1 day'`;
const FRESHEST = `select extract(epoch from now() - max(beat_at))::float8 as age from worker_heartbeats`;

/** Renew at most this often, and a few times within the age /ready accepts, so one missed beat is not fatal. */
const MAX_BEAT_EVERY_MS = 5_000;

export interface Heartbeat {
  stop(): Promise<void>;
}

export function startHeartbeat(db: Db, log: Logger, maxAgeMs: number): Heartbeat {
  const id = newId();
  const startedAt = new Date();
  const everyMs = Math.max(100, Math.min(MAX_BEAT_EVERY_MS, Math.floor(maxAgeMs / 3)));
  let failing = false;
  let beats = 0;
  const beat = async () => {
    try {
      await rawQuery(db, BEAT, [id, hostname(), process.pid, startedAt], { prepare: true });
      if (++beats % 1000 === 1) await rawQuery(db, FORGET_DEAD, []);
      if (failing) log.info({ workerId: id }, 'worker heartbeat written again');
      failing = false;
    } catch (err) {
      // Once per outage: the database being down is reported by /health and every request already.
      if (!failing) log.warn({ err, workerId: id }, 'worker heartbeat could not be written');
      failing = true;
    }
  };
  // One beat at a time: while the database hangs, beats are skipped rather than queued behind the one waiting.
  let running: Promise<void> | undefined;
  const tick = () => void (running ??= beat().finally(() => (running = undefined)));
  tick();
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await rawQuery(db, END, [id]).catch(() => {});
    },
  };
}

/** Seconds since the freshest worker heartbeat, or undefined when no worker has one. */
export async function freshestHeartbeatAge(db: Db): Promise<number | undefined> {
  const [row] = await rawQuery<{ age: number | null }>(db, FRESHEST, [], { prepare: true });
  return row?.age ?? undefined;
}
