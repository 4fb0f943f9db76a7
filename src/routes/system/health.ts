import { sql } from 'drizzle-orm';
import { createRouter } from '../../router';
import { withTimeout } from '../../lib/http';
import { describeError, log } from '../../lib/log';
import { getRedis } from '../../lib/redis';
import { errors, json, route, z } from '../kit';

/** A check that has not answered by then counts as down; one that answered after SLOW_MS, as slow (under load). */
const CHECK_TIMEOUT_MS = 5000;
const SLOW_MS = 1000;
const CheckStatus = z.enum(['ok', 'slow', 'error', 'disabled']);
const HealthSchema = z
  .object({
    data: z.object({
      status: z.enum(['ok', 'degraded', 'error']),
      checks: z.object({ database: CheckStatus, cache: CheckStatus }),
    }),
  })
  .openapi('Health');

/** A browser Origin outside CORS_ORIGINS is the one refusal these routes give. */
const originRefused = errors({ 403: 'A browser Origin outside CORS_ORIGINS' });

const health = route({
  method: 'get',
  path: '/healthz',
  operationId: 'system.health',
  auth: 'public',
  tags: ['system'],
  summary: 'Liveness and dependency health',
  description:
    'Database down (no answer within 5 s) → 503 (the API cannot serve). Database slow (answered, but after 1 s: under load) or cache down → 200 "degraded": the API still serves, and Redis is an optimisation every route can do without.',
  responses: {
    200: json(HealthSchema, 'Healthy or degraded'),
    ...originRefused,
    503: json(HealthSchema, 'Database unreachable', { data: { status: 'error', checks: { database: 'error', cache: 'ok' } } }),
  },
});

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

const live = route({
  method: 'get',
  path: '/livez',
  operationId: 'system.live',
  auth: 'public',
  tags: ['system'],
  summary: 'Liveness: the Worker answers (touches no dependency)',
  description: 'For load balancers and uptime probes that must not load the database; /healthz checks the dependencies.',
  responses: {
    200: json(z.object({ data: z.object({ status: z.literal('ok') }) }).openapi('Live'), 'The Worker is up'),
    ...originRefused,
  },
});

export const healthRoutes = createRouter()
  .openapi(live, (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({ data: { status: 'ok' as const } }, 200);
  })
  .openapi(health, async (c) => {
  const redis = getRedis(c.get('config'));
  const [database, cache] = await Promise.all([
    check('database', () => c.get('db').write.execute(sql`select 1`)),
    redis ? check('cache', () => redis.ping()) : Promise.resolve('disabled' as const),
  ]);
  const status = database === 'error' ? 'error' : database === 'slow' || cache !== 'ok' && cache !== 'disabled' ? 'degraded' : 'ok';
  c.header('Cache-Control', 'no-store');
  return c.json({ data: { status, checks: { database, cache } } }, database === 'error' ? 503 : 200);
  });
