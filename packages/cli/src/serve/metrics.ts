/**
 * The server's Prometheus metrics (prom-client), in a registry of its own so that two servers in
 * one process (tests, a hot swap) never share or clash over series.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SERVING_PATHS } from '@tt/core';

/** Every series `GET /metrics` exposes. */
export interface ServerMetrics {
  /** the registry `GET /metrics` renders */
  readonly registry: Registry;
  /** HTTP requests by route, method and status code */
  readonly requests: Counter<'route' | 'method' | 'status'>;
  /** request latency (seconds, from the request's arrival to its response) by route */
  readonly latency: Histogram<'route'>;
  /** users answered, by the path that served them (`id`, cold-start paths, `popularity`) */
  readonly answers: Counter<'path'>;
  /** users answered together in one user-tower pass and index search (micro-batching) */
  readonly batchSize: Histogram;
  /** checkpoint loads by result (`ok`, `failed`), the first one included */
  readonly reloads: Counter<'result'>;
  /** the serving model: its generation (1 for the first load, +1 per swap) */
  readonly generation: Gauge;
  /** items in the serving catalogue */
  readonly items: Gauge;
}

/** Latency buckets (seconds): fine below 20 ms, where the service is meant to answer. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A registry with the process metrics (RSS, heap, event-loop lag) and the server's own series. */
export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const answers = new Counter({ name: 'tt_retrievals_total', help: 'Users answered, by the path that served them', labelNames: ['path'] as const, registers });
  for (const path of SERVING_PATHS) answers.inc({ path }, 0); // every path visible from the start
  return {
    registry,
    requests: new Counter({ name: 'tt_http_requests_total', help: 'HTTP requests by route, method and status code', labelNames: ['route', 'method', 'status'] as const, registers }),
    latency: new Histogram({ name: 'tt_http_request_duration_seconds', help: 'Request latency from arrival to response, by route', labelNames: ['route'] as const, buckets: LATENCY_BUCKETS, registers }),
    answers,
    batchSize: new Histogram({ name: 'tt_retrieve_batch_size', help: 'Users served by one user-tower pass and index search', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], registers }),
    reloads: new Counter({ name: 'tt_checkpoint_loads_total', help: 'Checkpoint loads by result, the first one included', labelNames: ['result'] as const, registers }),
    generation: new Gauge({ name: 'tt_model_generation', help: 'Generation of the serving checkpoint: 1 for the first, +1 per hot swap', registers }),
    items: new Gauge({ name: 'tt_model_items', help: 'Items in the serving catalogue', registers }),
  };
}
