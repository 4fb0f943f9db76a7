import { sql } from 'drizzle-orm';
import { withTimeout } from '../../lib/http';
import { describeError, log } from '../../lib/log';
import { getRedis } from '../../lib/redis';
import type { ServiceContext } from '../context';

/** A check that has not answered by then counts as down; one that answered after SLOW_MS, as slow (under load). */
const CHECK_TIMEOUT_MS = 5000;
const SLOW_MS = 1000;

export type CheckStatus = 'ok' | 'slow' | 'error' | 'disabled';

export interface Health {
  status: 'ok' | 'degraded' | 'error';
  checks: { database: CheckStatus; cache: CheckStatus };
}

async function check(name: string, probe: () => Promise<unknown>): Promise<'ok' | 'slow' | 'error'> {
  const started = Date.now();
  try {
    await withTimeout(probe(), CHECK_TIMEOUT_MS, `${name} health check`);
    return Date.now() - started > SLOW_MS ? 'slow' : 'ok';
  } catch (err) {
    log('warn', 'health.check_failed', { check: name, error: describeError(err) });
    return 'error';
  }
}

/**
 * The dependencies' health: the database down is `error` (the API cannot serve); the database slow or the
 * cache down is `degraded` (Redis is an optimisation every route can do without).
 */
export async function checkHealth(ctx: ServiceContext): Promise<Health> {
  const redis = getRedis(ctx.config);
  const [database, cache] = await Promise.all([
    check('database', () => ctx.db.write.execute(sql`select 1`)),
    redis ? check('cache', () => redis.ping()) : Promise.resolve('disabled' as const),
  ]);
  const status = database === 'error' ? 'error' : database === 'slow' || (cache !== 'ok' && cache !== 'disabled') ? 'degraded' : 'ok';
  return { status, checks: { database, cache } };
}
