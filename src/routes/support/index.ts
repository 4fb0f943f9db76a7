import { reportSeverity, reportState, reportType } from '../../db/schema';
import { clientIp } from '../../lib/http';
import { createRouter, serviceContext } from '../../router';
import { createSupportTicket, listSupportTickets } from '../../services/support';
import { body, data, errors, json, paged, pageOf, Paging, route, text, z } from '../kit';

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
    subject: text().trim().min(5).max(200),
    message: text().trim().min(10).max(5000),
    email: z.email().max(254).optional().openapi({ description: 'Required when not signed in; ignored when signed in (the account address is used)' }),
    type: z.enum(reportType.enumValues).optional(),
    severity: z.enum(reportSeverity.enumValues).optional(),
  })
  .strict()
  .openapi('CreateSupportRequest');

const tags = ['support'];

export const supportRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'support.ticket.create',
      tags,
      summary: 'Open a support request (signed in, or anonymous with an email)',
      description:
        'The ticket is stored synchronously and its id returned. Limits: 3 per hour per signed-in user, 1 per hour per client IP when anonymous. ' +
        'A confirmation email follows (fixed template; an anonymous address gets at most one per 24 h and never the message body).',
      auth: 'optionalSession',
      request: body(CreateSupportBody, {
        subject: 'Cannot download my certificate',
        message: 'The certificate link of the March hackathon answers 404 since yesterday.',
        email: 'ada@example.com',
        type: 'BUG',
      }),
      responses: {
        201: json(data(SupportTicket), 'The stored ticket'),
        ...errors({
          400: 'Invalid body, or anonymous without an email',
          401: 'The session belongs to a deleted account',
          429: 'Too many support requests (Retry-After)',
          503: 'Anonymous: the cap on confirmation mail cannot be counted right now (Retry-After); nothing stored',
        }),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const data = await createSupportTicket(serviceContext(c), { ...body, ip: clientIp(c) });
      return c.json({ data }, 201);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'support.ticket.list',
      tags,
      summary: "The caller's support requests, newest first",
      auth: 'session',
      request: { query: Paging },
      responses: {
        200: json(pageOf(SupportTicket), 'One page'),
        ...errors({ 400: 'Invalid query', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const { limit, offset } = c.req.valid('query');
      return paged(c, await listSupportTickets(serviceContext(c), { limit, offset }), { limit, offset });
    },
  );
