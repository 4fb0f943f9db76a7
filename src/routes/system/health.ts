import { createRouter, serviceContext } from '../../router';
import { checkHealth } from '../../services/system/health';
import { errors, json, route, z } from '../kit';
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
    const health = await checkHealth(serviceContext(c));
    c.header('Cache-Control', 'no-store');
    return c.json({ data: health }, health.status === 'error' ? 503 : 200);
  });
