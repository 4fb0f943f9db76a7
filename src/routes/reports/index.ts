import { createRoute, z } from '@hono/zod-openapi';
import { reportEntityType, reportState } from '../../db/schema';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { createReport, listReports, REPORT_REASONS } from '../../services/reports';
import { ErrorResponse } from '../schemas';

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
    details: z.string().trim().max(500).optional(),
  })
  .strict()
  .openapi('CreateReport');

const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ErrorResponse, description);

const router = createRouter();
router.use('*', requireUser);

export const reportRoutes = router
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['reports'],
      summary: 'Report a profile, organization, team or project (10 per hour)',
      security: [{ clerkSession: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: CreateReportBody } } } },
      responses: {
        201: json(z.object({ data: Report }), 'Stored; a confirmation email follows'),
        400: err('Invalid body'),
        401: err('Not signed in'),
        404: err('No such (live) entity'),
        409: err('You already have an open report about this entity'),
        429: err('Too many reports (Retry-After)'),
      },
    }),
    async (c) => c.json({ data: await createReport(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['reports'],
      summary: "The caller's reports, newest first",
      security: [{ clerkSession: [] }],
      request: { query: PageQuery },
      responses: {
        200: json(z.object({ data: z.array(Report), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) }), 'One page'),
        400: err('Invalid query'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const { limit, offset } = c.req.valid('query');
      const { items, total } = await listReports(serviceContext(c), { limit, offset });
      return c.json({ data: items, meta: { total, limit, offset } }, 200);
    },
  );
