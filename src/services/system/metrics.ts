import { count, desc, gt, isNotNull, isNull, min, sql } from 'drizzle-orm';
import { deadLetters, jobRuns, outbox, processedEvents, users } from '../../db/schema';
import { isEventName } from '../../events/catalog';
import type { ServiceContext } from '../context';

interface Gauge {
  name: string;
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Labels stay bounded: a dead letter of a malformed message may name any event, so names outside the
 * catalog are all "unknown" (their samples are summed, or the oldest age kept).
 */
const eventLabel = (name: string) => (isEventName(name) ? name : 'unknown');
type Sample = Gauge['samples'][number];
const keyOf = (s: Sample) => JSON.stringify(s.labels ?? {});
function combine(samples: Sample[], pick: (a: number, b: number) => number): Sample[] {
  const out = new Map<string, Sample>();
  for (const s of samples) {
    const seen = out.get(keyOf(s));
    if (seen) seen.value = pick(seen.value, s.value);
    else out.set(keyOf(s), { ...s });
  }
  return [...out.values()];
}
const merge = (samples: Sample[]) => combine(samples, (a, b) => a + b);
const max = (samples: Sample[]) => combine(samples, Math.max);

function render(gauges: Gauge[]): string {
  const lines: string[] = [];
  for (const g of gauges) {
    lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
    for (const s of g.samples) {
      const labels = s.labels ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      lines.push(`${g.name}${labels} ${s.value}`);
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * Operational gauges in Prometheus text format. They are read from the database, not counted in
 * isolate memory: a Worker runs in many short-lived isolates, so in-memory counters would mislead.
 */
export async function collectMetrics(ctx: ServiceContext): Promise<string> {
  const db = ctx.db.read;
  const [pending] = await db.select({ n: count(), oldest: min(outbox.createdAt) }).from(outbox).where(isNull(outbox.relayedAt));
  const pendingByType = await db
    .select({ type: outbox.eventName, n: count(), oldest: min(outbox.createdAt) })
    .from(outbox)
    .where(isNull(outbox.relayedAt))
    .groupBy(outbox.eventName)
    .orderBy(outbox.eventName);
  const deadByType = await db
    .select({ type: deadLetters.eventName, n: count() })
    .from(deadLetters)
    .where(isNull(deadLetters.resolvedAt))
    .groupBy(deadLetters.eventName)
    .orderBy(deadLetters.eventName);
  const deadByHandler = await db
    .select({ type: deadLetters.eventName, handler: deadLetters.handler, n: count() })
    .from(deadLetters)
    .where(isNull(deadLetters.resolvedAt))
    .groupBy(deadLetters.eventName, deadLetters.handler)
    .orderBy(deadLetters.eventName, deadLetters.handler);
  const processedByHandler = await db
    .select({ handler: processedEvents.handler, n: count() })
    .from(processedEvents)
    .where(gt(processedEvents.processedAt, sql`now() - interval '1 hour'`))
    .groupBy(processedEvents.handler)
    .orderBy(processedEvents.handler);
  const runsByStatus = await db
    .select({ job: jobRuns.job, status: jobRuns.status, n: count() })
    .from(jobRuns)
    .groupBy(jobRuns.job, jobRuns.status)
    .orderBy(jobRuns.job, jobRuns.status);
  const lastRuns = await db
    .selectDistinctOn([jobRuns.job], { job: jobRuns.job, status: jobRuns.status, startedAt: jobRuns.startedAt })
    .from(jobRuns)
    .orderBy(jobRuns.job, desc(jobRuns.startedAt));
  const [active] = await db.select({ n: count() }).from(users).where(isNull(users.deletedAt));
  const [deleted] = await db.select({ n: count() }).from(users).where(isNotNull(users.deletedAt));
  const oldestAge = pending?.oldest ? Math.max(0, Math.round((Date.now() - pending.oldest.getTime()) / 1000)) : 0;
  const [{ now }] = (await db.execute(sql`select extract(epoch from now())::float8 as now`)).rows as [{ now: number }];
  const byType = (rows: { type: string; n: number }[]) => merge(rows.map((r) => ({ labels: { event_type: eventLabel(r.type) }, value: r.n })));
  const ageSeconds = (at: Date | null) => (at ? Math.max(0, Math.round((Date.now() - at.getTime()) / 1000)) : 0);
  return render([
    { name: 'fairarena_info', help: 'Build and environment of this worker.', samples: [{ labels: { environment: ctx.config.ENVIRONMENT }, value: 1 }] },
    { name: 'fairarena_outbox_pending', help: 'Events committed but not yet relayed to the queue.', samples: [{ value: pending?.n ?? 0 }] },
    { name: 'fairarena_outbox_pending_by_event', help: 'Events committed but not yet relayed, per event type.', samples: byType(pendingByType) },
    { name: 'fairarena_outbox_oldest_pending_seconds', help: 'Age of the oldest unrelayed event (0 when none).', samples: [{ value: oldestAge }] },
    {
      name: 'fairarena_outbox_oldest_pending_seconds_by_event',
      help: 'Age of the oldest unrelayed event, per event type.',
      samples: max(pendingByType.map((r) => ({ labels: { event_type: eventLabel(r.type) }, value: ageSeconds(r.oldest) }))),
    },
    { name: 'fairarena_dead_letters', help: 'Unresolved dead letters: event handlers that exhausted their retries.', samples: [{ value: deadByType.reduce((n, r) => n + r.n, 0) }] },
    { name: 'fairarena_dead_letters_by_event', help: 'Unresolved dead letters per event type.', samples: byType(deadByType) },
    {
      name: 'fairarena_dead_letters_by_handler',
      help: 'Unresolved dead letters per event type and handler (handler "none": the event could not be dispatched).',
      samples: merge(
        deadByHandler.map((r) => {
          const known = isEventName(r.type);
          return { labels: { event_type: known ? r.type : 'unknown', handler: known && r.handler ? r.handler : 'none' }, value: r.n };
        }),
      ),
    },
    {
      name: 'fairarena_events_processed_last_hour',
      help: 'Events each queue handler processed in the last hour.',
      samples: processedByHandler.map((r) => ({ labels: { handler: r.handler }, value: r.n })),
    },
    { name: 'fairarena_job_runs', help: 'Recorded cron job runs by outcome (running, succeeded, failed).', samples: runsByStatus.map((r) => ({ labels: { job: r.job, status: r.status }, value: r.n })) },
    {
      name: 'fairarena_job_last_run_status',
      help: 'Outcome of each cron job\'s latest run: 1 for its status (running, succeeded, failed).',
      samples: lastRuns.map((r) => ({ labels: { job: r.job, status: r.status }, value: 1 })),
    },
    {
      name: 'fairarena_job_last_run_timestamp_seconds',
      help: 'Unix time the latest run of each cron job started.',
      samples: lastRuns.map((r) => ({ labels: { job: r.job }, value: Math.floor(r.startedAt.getTime() / 1000) })),
    },
    { name: 'fairarena_users', help: 'Users by state.', samples: [{ labels: { state: 'active' }, value: active?.n ?? 0 }, { labels: { state: 'deleted' }, value: deleted?.n ?? 0 }] },
    { name: 'fairarena_database_time_seconds', help: 'Database clock (a scrape that returns it reached the database).', samples: [{ value: now }] },
  ]);
}
