import { createRoute, z } from '@hono/zod-openapi';
import { reportSeverity, reportState, reportType } from '../../db/schema';
import { clientIp } from '../../lib/http';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { createSupportTicket, listSupportTickets } from '../../services/support';
import { ErrorResponse } from '../schemas';

const SupportTicket = z
  .object({
    id: z.uuid(),
    subject: z.string(),
    message: z.string(),
    type: z.enum(reportType.enumValues),
    severity: z.enum(reportSeverity.enumValues),
    status: z.enum(reportState.enumValues),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('SupportTicket');

const CreateSupportBody = z
  .object({
    subject: z.string().trim().min(5).max(200),
    message: z.string().trim().min(10).max(5000),
    email: z.email().max(254).optional().openapi({ description: 'Required when not signed in; ignored when signed in (the account address is used)' }),
    type: z.enum(reportType.enumValues).optional(),
    severity: z.enum(reportSeverity.enumValues).optional(),
  })
  .strict()
  .openapi('CreateSupportRequest');

const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Public route that also reads an optional session. */
const optionalSession: { clerkSession?: string[] }[] = [{}, { clerkSession: [] }];
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ErrorResponse, description);

export const supportRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['support'],
      summary: 'Open a support request (signed in, or anonymous with an email)',
      description:
        'The ticket is stored synchronously and its id returned. Limits: 3 per hour per signed-in user, 1 per hour per client IP when anonymous. ' +
        'A confirmation email follows (fixed template; an anonymous address gets at most one per 24 h and never the message body).',
      security: optionalSession,
      request: { body: { required: true, content: { 'application/json': { schema: CreateSupportBody } } } },
      responses: {
        201: json(z.object({ data: SupportTicket }), 'The stored ticket'),
        400: err('Invalid body, or anonymous without an email'),
        401: err('The session belongs to a deleted account'),
        429: err('Too many support requests (Retry-After)'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const data = await createSupportTicket(serviceContext(c), { ...body, ip: clientIp(c) });
      return c.json({ data }, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['support'],
      summary: "The caller's support requests, newest first",
      security: [{ clerkSession: [] }],
      middleware: [requireUser] as const,
      request: { query: PageQuery },
      responses: {
        200: json(z.object({ data: z.array(SupportTicket), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) }), 'One page'),
        400: err('Invalid query'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const { limit, offset } = c.req.valid('query');
      const { items, total } = await listSupportTickets(serviceContext(c), { limit, offset });
      return c.json({ data: items, meta: { total, limit, offset } }, 200);
    },
  );
