import { reportEntityType, reportState } from '../../db/schema';
import { createRouter, serviceContext } from '../../router';
import { createReport, listReports, REPORT_REASONS } from '../../services/reports';
import { body, data, errors, guardUnmatched, json, paged, pageOf, Paging, route, text, z } from '../kit';

const Report = z
  .object({
    id: z.uuid(),
    entityType: z.enum(reportEntityType.enumValues),
    entityId: z.string(),
    reason: z.string(),
    details: z.string().nullable(),
    status: z.enum(reportState.enumValues),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Report');

const CreateReportBody = z
  .object({
    entityType: z.enum(reportEntityType.enumValues),
    entityId: z.uuid().openapi({ description: 'profiles.id for a profile; the organization / team / project id otherwise' }),
    reason: z.enum(REPORT_REASONS),
    details: text().trim().max(500).optional(),
  })
  .strict()
  .openapi('CreateReport');

const tags = ['reports'];

export const reportRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'report.create',
      tags,
      summary: 'Report a profile, organization, team or project (10 per hour)',
      auth: 'session',
      request: body(CreateReportBody, {
        entityType: 'profile',
        entityId: '8d3f6c1a-5b2e-4f7d-9a0c-3e1b2d4f6a8c',
        reason: 'spam',
        details: 'Posts the same link on every project page',
      }),
      responses: {
        201: json(data(Report), 'Stored; a confirmation email follows'),
        ...errors({
          400: 'Invalid body',
          401: 'Not signed in',
          404: 'No such (live) entity',
          409: 'You already have an open report about this entity',
          429: 'Too many reports (Retry-After)',
        }),
      },
    }),
    async (c) => c.json({ data: await createReport(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'report.list',
      tags,
      summary: "The caller's reports, newest first",
      auth: 'session',
      request: { query: Paging },
      responses: {
        200: json(pageOf(Report), 'One page'),
        ...errors({ 400: 'Invalid query', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const { limit, offset } = c.req.valid('query');
      return paged(c, await listReports(serviceContext(c), { limit, offset }), { limit, offset });
    },
  );

guardUnmatched(reportRoutes, 'session');
