import { createRoute, z } from '@hono/zod-openapi';
import { requireBearerToken } from '../../lib/http';
import { createRouter, serviceContext } from '../../router';
import { collectMetrics } from '../../services/system/metrics';

const route = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['system'],
  summary: 'Prometheus metrics (Bearer METRICS_TOKEN)',
  security: [{ metricsToken: [] }],
  responses: {
    200: {
      description:
        'Prometheus text exposition format (0.0.4), gauges read from the database: outbox backlog and oldest age (total and per event type), unresolved dead letters (total, per event type, per event type and handler), events processed per handler in the last hour, cron job runs by outcome and each job\'s latest run, users.',
      content: { 'text/plain': { schema: z.string() } } },
    401: { description: 'Missing or wrong token' },
    404: { description: 'METRICS_TOKEN is not configured' },
  },
});

export const metricsRoutes = createRouter().openapi(route, async (c) => {
  requireBearerToken(c, c.get('config').METRICS_TOKEN, 'metrics token');
  c.header('Cache-Control', 'no-store');
  return c.text(await collectMetrics(serviceContext(c)), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
});
