// Webhook events, written to the outbox in the caller's transaction — the event exists exactly when the
// change it reports was committed — with one pending delivery per subscribed endpoint. The worker delivers.
import type { DbOrTx } from '../db/database.ts';
import { newId } from '../security/ids.ts';
import { txQuery } from '../db/raw.ts';

export const ACCOUNT_EVENTS = [
  'account.connected',
  'account.reconnected',
  'account.reauth_required',
  'account.disconnected',
  'account.recovered',
  'account.expiring',
] as const;
/** When every target of a post is done: all published, some failed, all failed (PRODUCT.md, "Publishing"). */
export const POST_EVENTS = ['post.published', 'post.partial', 'post.error'] as const;
export const EVENT_TYPES = [...ACCOUNT_EVENTS, ...POST_EVENTS, 'webhook.test'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Standard Webhooks payload shape: `{type, timestamp, data}`. Never credentials. */
export interface EventPayload {
  type: EventType;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface NewEvent {
  orgId: string;
  type: EventType;
  data: Record<string, unknown>;
  /** To this endpoint alone, whatever it subscribes to (a test delivery). */
  onlyEndpointId?: string;
}

/**
 * Many events at once (the ends of a batch of posts), in three statements whatever their number: the events, the
 * organizations' subscribed endpoints, one pending delivery per event and endpoint. Returns the events' ids.
 */
export async function emitEvents(tx: DbOrTx, events: NewEvent[]): Promise<string[]> {
  if (!events.length) return [];
  const timestamp = new Date().toISOString();
  const rows = events.map((e) => ({ id: `msg_${newId()}`, org_id: e.orgId, type: e.type, payload: { type: e.type, timestamp, data: e.data } satisfies EventPayload }));
  await txQuery(
    tx,
    'insert into webhook_events (id, org_id, type, payload) select id, org_id, type, payload from jsonb_to_recordset($1::jsonb) as v(id text, org_id text, type text, payload jsonb)',
    [JSON.stringify(rows)],
  );
  const orgs = [...new Set(events.map((e) => e.orgId))];
  const endpoints = await txQuery<{ id: string; orgId: string; events: string[] }>(
    tx,
    'select id, org_id as "orgId", events from webhook_endpoints where enabled and org_id in (select jsonb_array_elements_text($1::jsonb))',
    [JSON.stringify(orgs)],
  );
  const deliveries = rows.flatMap((event, i) => {
    const only = events[i].onlyEndpointId;
    return endpoints
      .filter((e) => e.orgId === event.org_id && (only ? e.id === only : e.events.length === 0 || e.events.includes(event.type)))
      .map((e) => ({ id: newId(), org_id: event.org_id, event_id: event.id, endpoint_id: e.id }));
  });
  if (deliveries.length) {
    await txQuery(
      tx,
      'insert into webhook_deliveries (id, org_id, event_id, endpoint_id) select id, org_id, event_id, endpoint_id from jsonb_to_recordset($1::jsonb) as v(id text, org_id text, event_id text, endpoint_id text)',
      [JSON.stringify(deliveries)],
    );
  }
  return rows.map((r) => r.id);
}

/** One event (`emitEvents` for one); `onlyEndpointId` sends it to that endpoint alone (a test delivery). */
export async function emitEvent(
  tx: DbOrTx,
  orgId: string,
  type: EventType,
  data: Record<string, unknown>,
  opts: { onlyEndpointId?: string } = {},
): Promise<string> {
  const [id] = await emitEvents(tx, [{ orgId, type, data, onlyEndpointId: opts.onlyEndpointId }]);
  return id;
}
