import { createRouter, serviceContext } from '../../router';
import { collectMetrics } from '../../services/system/metrics';
import { route, z } from '../kit';

const metrics = route({
  method: 'get',
  path: '/metrics',
  operationId: 'system.metrics',
  tags: ['system'],
  summary: 'Prometheus metrics (Bearer METRICS_TOKEN)',
  auth: 'metrics',
  responses: {
    200: {
      description:
        'Prometheus text exposition format (0.0.4), gauges read from the database: outbox backlog and oldest age (total and per event type), unresolved dead letters (total, per event type, per event type and handler), events processed per handler in the last hour, cron job runs by outcome and each job\'s latest run, users.',
      content: { 'text/plain': { schema: z.string() } } },
  },
});

export const metricsRoutes = createRouter().openapi(metrics, async (c) => {
  return c.text(await collectMetrics(serviceContext(c)), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
});
