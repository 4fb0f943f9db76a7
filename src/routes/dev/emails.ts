import { AppError } from '../../lib/errors';
import { createRouter, serviceContext } from '../../router';
import { listDevEmails } from '../../services/system/dev-mailbox';
import { errors, json, route, text, z } from '../kit';

const mailbox = route({
  method: 'get',
  path: '/emails',
  operationId: 'dev.email.list',
  auth: 'public',
  tags: ['development'],
  summary: 'Development mailbox (ENVIRONMENT=development only)',
  request: {
    query: z.object({
      /** An email address, or an E.164 number for texts from the dev SMS provider. */
      to: text().trim().min(3).max(320).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  },
  responses: {
    200: json(z.object({ data: z.array(z.record(z.string(), z.unknown())), meta: z.object({ limit: z.number().int() }) }), 'Newest first'),
    ...errors({ 404: 'Outside development' }),
  },
});

/** Mail sent without RESEND_API_KEY lands in dev_emails; developers read it here. */
export const devEmailRoutes = createRouter().openapi(mailbox, async (c) => {
  if (c.get('config').ENVIRONMENT !== 'development') throw new AppError('NOT_FOUND', `No route for GET ${c.req.path}`);
  const { to, limit } = c.req.valid('query');
  const rows = await listDevEmails(serviceContext(c), { to, limit });
  return c.json({ data: rows, meta: { limit } }, 200);
});
