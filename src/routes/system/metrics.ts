import { createRoute, z } from '@hono/zod-openapi';
import { timingSafeEqual } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { createRouter } from '../../router';
import { serviceContext } from '../../services/context';
import { collectMetrics } from '../../services/system/metrics';

const route = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['system'],
  summary: 'Prometheus metrics (Bearer METRICS_TOKEN)',
  security: [{ metricsToken: [] }],
  responses: {
    200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
    401: { description: 'Missing or wrong token' },
    404: { description: 'METRICS_TOKEN is not configured' },
  },
});

export const metricsRoutes = createRouter().openapi(route, async (c) => {
  const token = c.get('config').METRICS_TOKEN;
  if (!token) throw new AppError('NOT_FOUND', `No route for GET ${c.req.path}`);
  const given = c.req.header('Authorization')?.replace(/^Bearer\s+/i, '') ?? '';
  if (!timingSafeEqual(token, given)) throw new AppError('AUTH_REQUIRED', 'A valid metrics token is required');
  c.header('Cache-Control', 'no-store');
  return c.text(await collectMetrics(serviceContext(c)), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
});
