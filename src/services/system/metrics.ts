import { count, isNotNull, isNull, min, sql } from 'drizzle-orm';
import { deadLetters, outbox, users } from '../../db/schema';
import type { ServiceContext } from '../context';

interface Gauge {
  name: string;
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

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
    .select({ type: outbox.eventName, n: count() })
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
  const [active] = await db.select({ n: count() }).from(users).where(isNull(users.deletedAt));
  const [deleted] = await db.select({ n: count() }).from(users).where(isNotNull(users.deletedAt));
  const oldestAge = pending?.oldest ? Math.max(0, Math.round((Date.now() - pending.oldest.getTime()) / 1000)) : 0;
  const [{ now }] = (await db.execute(sql`select extract(epoch from now())::float8 as now`)).rows as [{ now: number }];
  const byType = (rows: { type: string; n: number }[]) => rows.map((r) => ({ labels: { event_type: r.type }, value: r.n }));
  return render([
    { name: 'fairarena_info', help: 'Build and environment of this worker.', samples: [{ labels: { environment: ctx.config.ENVIRONMENT }, value: 1 }] },
    { name: 'fairarena_outbox_pending', help: 'Events committed but not yet relayed to the queue.', samples: [{ value: pending?.n ?? 0 }] },
    { name: 'fairarena_outbox_pending_by_event', help: 'Events committed but not yet relayed, per event type.', samples: byType(pendingByType) },
    { name: 'fairarena_outbox_oldest_pending_seconds', help: 'Age of the oldest unrelayed event (0 when none).', samples: [{ value: oldestAge }] },
    { name: 'fairarena_dead_letters', help: 'Unresolved dead letters: event handlers that exhausted their retries.', samples: [{ value: deadByType.reduce((n, r) => n + r.n, 0) }] },
    { name: 'fairarena_dead_letters_by_event', help: 'Unresolved dead letters per event type.', samples: byType(deadByType) },
    { name: 'fairarena_users', help: 'Users by state.', samples: [{ labels: { state: 'active' }, value: active?.n ?? 0 }, { labels: { state: 'deleted' }, value: deleted?.n ?? 0 }] },
    { name: 'fairarena_database_time_seconds', help: 'Database clock (a scrape that returns it reached the database).', samples: [{ value: now }] },
  ]);
}
