import { createRoute, z } from '@hono/zod-openapi';
import { createRouter, serviceContext } from '../../router';
import { checkHealth } from '../../services/system/health';
const CheckStatus = z.enum(['ok', 'slow', 'error', 'disabled']);
const HealthSchema = z
  .object({
    data: z.object({
      status: z.enum(['ok', 'degraded', 'error']),
      checks: z.object({ database: CheckStatus, cache: CheckStatus }),
    }),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['system'],
  summary: 'Liveness and dependency health',
  description:
    'Database down (no answer within 5 s) → 503 (the API cannot serve). Database slow (answered, but after 1 s: under load) or cache down → 200 "degraded": the API still serves, and Redis is an optimisation every route can do without.',
  responses: {
    200: { description: 'Healthy or degraded', content: { 'application/json': { schema: HealthSchema } } },
    503: { description: 'Database unreachable', content: { 'application/json': { schema: HealthSchema } } },
  },
});

const live = createRoute({
  method: 'get',
  path: '/livez',
  tags: ['system'],
  summary: 'Liveness: the Worker answers (touches no dependency)',
  description: 'For load balancers and uptime probes that must not load the database; /healthz checks the dependencies.',
  responses: {
    200: { description: 'The Worker is up', content: { 'application/json': { schema: z.object({ data: z.object({ status: z.literal('ok') }) }).openapi('Live') } } },
  },
});

export const healthRoutes = createRouter()
  .openapi(live, (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({ data: { status: 'ok' as const } }, 200);
  })
  .openapi(route, async (c) => {
    const health = await checkHealth(serviceContext(c));
    c.header('Cache-Control', 'no-store');
    return c.json({ data: health }, health.status === 'error' ? 503 : 200);
  });
