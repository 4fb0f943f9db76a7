import { createRoute, z } from '@hono/zod-openapi';
import { createRouter, serviceContext } from '../../router';
import { getPlan, listPlans } from '../../services/plans';
import { ErrorResponse } from '../schemas';

const Plan = z
  .object({
    planId: z.string().openapi({ example: 'basic_plan' }),
    name: z.string(),
    amount: z.number().int().openapi({ description: 'Minor units (paise)', example: 89900 }),
    currency: z.string().openapi({ example: 'INR' }),
    credits: z.number().int(),
    description: z.string().nullable(),
    features: z.array(z.string()),
    purchasable: z.boolean(),
  })
  .openapi('Plan');

const PlanId = z.string().min(1).max(64).regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _');
const CACHE = 'public, max-age=300';

export const planRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['plans'],
      summary: 'List purchasable credit plans (public)',
      responses: { 200: { description: 'Active plans, cheapest first', content: { 'application/json': { schema: z.object({ data: z.array(Plan) }) } } } },
    }),
    async (c) => {
      c.header('Cache-Control', CACHE);
      return c.json({ data: await listPlans(serviceContext(c)) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{planId}',
      tags: ['plans'],
      summary: 'One plan (public)',
      request: { params: z.object({ planId: PlanId }) },
      responses: {
        200: { description: 'The plan', content: { 'application/json': { schema: z.object({ data: Plan }) } } },
        404: { description: 'Unknown or inactive plan', content: { 'application/json': { schema: ErrorResponse } } },
      },
    }),
    async (c) => {
      c.header('Cache-Control', CACHE);
      return c.json({ data: await getPlan(serviceContext(c), c.req.valid('param').planId) }, 200);
    },
  );
