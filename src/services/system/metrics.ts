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
  const [dead] = await db.select({ n: count() }).from(deadLetters);
  const [active] = await db.select({ n: count() }).from(users).where(isNull(users.deletedAt));
  const [deleted] = await db.select({ n: count() }).from(users).where(isNotNull(users.deletedAt));
  const oldestAge = pending?.oldest ? Math.max(0, Math.round((Date.now() - pending.oldest.getTime()) / 1000)) : 0;
  const [{ now }] = (await db.execute(sql`select extract(epoch from now())::float8 as now`)).rows as [{ now: number }];
  return render([
    { name: 'fairarena_info', help: 'Build and environment of this worker.', samples: [{ labels: { environment: ctx.config.ENVIRONMENT }, value: 1 }] },
    { name: 'fairarena_outbox_pending', help: 'Events committed but not yet relayed to the queue.', samples: [{ value: pending?.n ?? 0 }] },
    { name: 'fairarena_outbox_oldest_pending_seconds', help: 'Age of the oldest unrelayed event (0 when none).', samples: [{ value: oldestAge }] },
    { name: 'fairarena_dead_letters', help: 'Events that exhausted their retries.', samples: [{ value: dead?.n ?? 0 }] },
    { name: 'fairarena_users', help: 'Users by state.', samples: [{ labels: { state: 'active' }, value: active?.n ?? 0 }, { labels: { state: 'deleted' }, value: deleted?.n ?? 0 }] },
    { name: 'fairarena_database_time_seconds', help: 'Database clock (a scrape that returns it reached the database).', samples: [{ value: now }] },
  ]);
}
