import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../lib/errors';
import { createRouter, serviceContext } from '../../router';
import { listDevEmails } from '../../services/system/dev-mailbox';

const route = createRoute({
  method: 'get',
  path: '/emails',
  tags: ['development'],
  summary: 'Development mailbox (ENVIRONMENT=development only)',
  request: {
    query: z.object({
      /** An email address, or an E.164 number for texts from the dev SMS provider. */
      to: z.string().trim().min(3).max(320).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  },
  responses: { 200: { description: 'Newest first' }, 404: { description: 'Outside development' } },
});

/** Mail sent without RESEND_API_KEY lands in dev_emails; developers read it here. */
export const devEmailRoutes = createRouter().openapi(route, async (c) => {
  if (c.get('config').ENVIRONMENT !== 'development') throw new AppError('NOT_FOUND', `No route for GET ${c.req.path}`);
  const { to, limit } = c.req.valid('query');
  const rows = await listDevEmails(serviceContext(c), { to, limit });
  return c.json({ data: rows, meta: { limit } }, 200);
});
