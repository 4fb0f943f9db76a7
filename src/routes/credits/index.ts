import { createRoute, z } from '@hono/zod-openapi';
import { creditTransactionType } from '../../db/schema';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { getBalance, listCreditHistory } from '../../services/credits';
import { ErrorResponse } from '../schemas';

const security = [{ clerkSession: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ErrorResponse) });

const CreditType = z.enum(creditTransactionType.enumValues).openapi('CreditTransactionType');

const CreditTransaction = z
  .object({
    id: z.uuid(),
    type: CreditType,
    amount: z.number().int().openapi({ description: 'Signed: positive adds credits, negative removes them' }),
    balanceAfter: z.number().int(),
    description: z.string(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    createdAt: z.string(),
    payment: z
      .object({
        id: z.uuid(),
        razorpayOrderId: z.string(),
        razorpayPaymentId: z.string().nullable(),
        planId: z.string(),
        planName: z.string(),
        amount: z.number().int().openapi({ description: 'Paise' }),
        currency: z.string(),
        status: z.string(),
      })
      .nullable(),
  })
  .openapi('CreditTransaction');

const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  type: CreditType.optional(),
});

/** Only GET /balance and GET /history live here for now; eligibility, claim and the OTP routes come later. */
export const creditRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/balance',
      tags: ['credits'],
      summary: "The caller's credit balance",
      security,
      middleware: [requireUser] as const,
      responses: {
        200: { description: 'Current balance', content: json(z.object({ data: z.object({ balance: z.number().int() }) })) },
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await getBalance(serviceContext(c)) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/history',
      tags: ['credits'],
      summary: "The caller's credit ledger, newest first, with each row's payment",
      security,
      middleware: [requireUser] as const,
      request: { query: HistoryQuery },
      responses: {
        200: {
          description: 'One page of ledger rows',
          content: json(z.object({ data: z.array(CreditTransaction), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) })),
        },
        400: err('Invalid limit, offset or type'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listCreditHistory(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: page.items, meta: { total: page.total, limit: q.limit, offset: q.offset } }, 200);
    },
  );
