import { creditTransactionType } from '../../db/schema';
import { createRouter, serviceContext } from '../../router';
import { getBalance, listCreditHistory } from '../../services/credits';
import { data, errors, json, paged, pageOf, Paging, route, z } from '../kit';

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
  offset: Paging.shape.offset,
  type: CreditType.optional(),
});

/** Only GET /balance and GET /history live here for now; eligibility, claim and the OTP routes come later. */
export const creditRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/balance',
      operationId: 'credit.balance.get',
      tags: ['credits'],
      summary: "The caller's credit balance",
      auth: 'session',
      responses: {
        200: json(data(z.object({ balance: z.number().int() })), 'Current balance'),
        ...errors({ 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await getBalance(serviceContext(c)) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/history',
      operationId: 'credit.history.list',
      tags: ['credits'],
      summary: "The caller's credit ledger, newest first, with each row's payment",
      auth: 'session',
      request: { query: HistoryQuery },
      responses: {
        200: json(pageOf(CreditTransaction), 'One page of ledger rows'),
        ...errors({ 400: 'Invalid limit, offset or type', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listCreditHistory(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return paged(c, page, q);
    },
  );
