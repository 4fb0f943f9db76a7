import { createRouter, serviceContext } from '../../router';
import { getPlan, listPlans } from '../../services/plans';
import { data, errors, json, route, z } from '../kit';

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
  .openapi('Plan', {
    example: {
      planId: 'basic_plan',
      name: 'Basic',
      amount: 89900,
      currency: 'INR',
      credits: 1000,
      description: 'For a small hackathon',
      features: ['1,000 credits'],
      purchasable: true,
    },
  });

const PlanId = z.string().min(1).max(64).regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _');
const CACHE = 'public, max-age=300';
const tags = ['plans'];

export const planRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/',
      auth: 'public',
      operationId: 'plan.list',
      tags,
      summary: 'List purchasable credit plans (public)',
      responses: { 200: json(z.object({ data: z.array(Plan) }), 'Active plans, cheapest first'), ...errors(429) },
    }),
    async (c) => {
      c.header('Cache-Control', CACHE);
      return c.json({ data: await listPlans(serviceContext(c)) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{planId}',
      auth: 'public',
      operationId: 'plan.get',
      tags,
      summary: 'One plan (public)',
      request: { params: z.object({ planId: PlanId }) },
      responses: {
        200: json(data(Plan), 'The plan'),
        ...errors({ 404: 'Unknown or inactive plan' }),
      },
    }),
    async (c) => {
      c.header('Cache-Control', CACHE);
      return c.json({ data: await getPlan(serviceContext(c), c.req.valid('param').planId) }, 200);
    },
  );
