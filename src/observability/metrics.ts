// This process's metrics: its HTTP requests and what its engines did (refreshes, publish targets, webhook
// attempts), plus Node's own (CPU, memory, event loop, GC). Counters live in memory, so each process (every
// `serve`, every `worker`) exposes its own and Prometheus sums them across instances; they start again at zero
// when a process restarts, which `rate()` and `increase()` expect.
//
// The engines import the small `record…` functions below; nothing here imports an engine.
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });

const tokenRefreshes = new Counter({
  name: 'switchboard_token_refreshes_total',
  help: 'Token refreshes by network and outcome: refreshed, retrying (a transient failure, backed off) or reauth_required (the grant is dead)',
  labelNames: ['network', 'outcome'] as const,
  registers: [processRegistry],
});

const publishTargets = new Counter({
  name: 'switchboard_publish_targets_total',
  help: 'Publish targets ended by network and outcome: published, failed or cancelled',
  labelNames: ['network', 'outcome'] as const,
  registers: [processRegistry],
});

const webhookDeliveries = new Counter({
  name: 'switchboard_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome: delivered, retrying (failed, another attempt is scheduled) or failed (no attempt left)',
  labelNames: ['outcome'] as const,
  registers: [processRegistry],
});

/** Its `_count` is the request counter: one series per method, route pattern and status. */
export const httpRequestDuration = new Histogram({
  name: 'switchboard_http_request_duration_seconds',
  help: 'HTTP requests by method, route pattern (never the raw URL) and status code, with their latency',
  labelNames: ['method', 'route', 'status_code'] as const,
  // From a cached read (a few ms) to a connection callback making several network calls.
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [processRegistry],
});

export type RefreshOutcome = 'refreshed' | 'retrying' | 'reauth_required';
export type PublishOutcome = 'published' | 'failed' | 'cancelled';
export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed';

export function recordTokenRefresh(network: string, outcome: RefreshOutcome): void {
  tokenRefreshes.inc({ network, outcome });
}

export function recordPublishTarget(network: string, outcome: PublishOutcome): void {
  publishTargets.inc({ network, outcome });
}

export function recordWebhookDelivery(outcome: DeliveryOutcome): void {
  webhookDeliveries.inc({ outcome });
}
