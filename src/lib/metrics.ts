import { log } from './log';

/**
 * RED metrics (rate, errors, duration) as Workers Analytics Engine data points. A Worker runs in many
 * short-lived isolates, so counters kept in memory would mislead: every request and every queue handler
 * run writes one data point instead, and the Analytics Engine SQL API aggregates them (README,
 * Observability). `writeDataPoint` only buffers — the runtime flushes after the response — so writing
 * never delays it. Both kinds share one dataset; blob1 tells them apart.
 *
 * Request:  index1 route · blob1 'request' · blob2 route · blob3 method · blob4 status class (2xx…)
 *           · blob5 cache (hit | miss | none) · blob6 colo · blob7 unhandled error name ('' if none)
 *           · double1 status · double2 duration ms
 * Handler:  index1 event:handler · blob1 'handler' · blob2 event · blob3 handler · blob4 outcome
 *           (ok | duplicate | failed) · blob5 '' · blob6 '' · blob7 error name ('' if none)
 *           · double1 0 · double2 duration ms · double3 delivery attempt
 */
export interface MetricsDataset {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

/** The dataset binding, when the worker has one (the `METRICS` binding in wrangler.toml). */
function dataset(env: Record<string, unknown>): MetricsDataset | undefined {
  const ds = env.METRICS as MetricsDataset | undefined;
  return ds && typeof ds.writeDataPoint === 'function' ? ds : undefined;
}

function write(env: Record<string, unknown>, point: { indexes: string[]; blobs: string[]; doubles: number[] }): void {
  const ds = dataset(env);
  if (!ds) return;
  try {
    ds.writeDataPoint(point);
  } catch (err) {
    // Metrics never fail the work they measure.
    log('warn', 'metrics.write_failed', { error: err instanceof Error ? err.message : String(err) });
  }
}

export interface RequestPoint {
  route: string;
  method: string;
  status: number;
  ms: number;
  cache?: 'hit' | 'miss';
  colo?: string;
  error?: string;
}

export function recordRequest(env: Record<string, unknown>, p: RequestPoint): void {
  write(env, {
    indexes: [p.route.slice(0, 96)],
    blobs: ['request', p.route, p.method, `${Math.floor(p.status / 100)}xx`, p.cache ?? 'none', p.colo ?? '', p.error ?? ''],
    doubles: [p.status, p.ms],
  });
}

export interface HandlerPoint {
  event: string;
  handler: string;
  outcome: 'ok' | 'duplicate' | 'failed';
  ms: number;
  attempt: number;
  error?: string;
}

export function recordHandlerRun(env: Record<string, unknown>, p: HandlerPoint): void {
  write(env, {
    indexes: [`${p.event}:${p.handler}`.slice(0, 96)],
    blobs: ['handler', p.event, p.handler, p.outcome, '', '', p.error ?? ''],
    doubles: [0, p.ms, p.attempt],
  });
}
