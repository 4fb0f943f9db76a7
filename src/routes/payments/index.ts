import { createRoute, z } from '@hono/zod-openapi';
import { paymentStatus } from '../../db/schema';
import { clientIp } from '../../lib/http';
import { requireUser } from '../../middleware/auth';
import { idempotency } from '../../middleware/idempotency';
import { createRouter, serviceContext } from '../../router';
import { createOrder, listPayments, verifyPayment } from '../../services/payments';
import { ErrorResponse } from '../schemas';

const security = [{ clerkSession: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ErrorResponse) });

const PlanId = z.string().min(1).max(64).regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _');
const RazorpayId = (prefix: string) => z.string().min(1).max(64).regex(/^[A-Za-z0-9_]+$/).openapi({ example: `${prefix}_Nx7pQ2bJcE3mKa` });

const CreateOrderBody = z.object({ planId: PlanId.openapi({ example: 'business_plan' }) }).strict();

const CreatedOrder = z
  .object({
    orderId: z.string().openapi({ example: 'order_Nx7pQ2bJcE3mKa' }),
    amount: z.number().int().openapi({ description: 'Paise', example: 299900 }),
    currency: z.string().openapi({ example: 'INR' }),
    keyId: z.string().openapi({ description: 'Razorpay key id for Checkout' }),
    plan: z.object({ planId: z.string(), name: z.string(), credits: z.number().int() }),
  })
  .openapi('CreatedOrder');

const VerifyBody = z
  .object({
    razorpay_order_id: RazorpayId('order'),
    razorpay_payment_id: RazorpayId('pay'),
    razorpay_signature: z.string().min(1).max(256),
  })
  .strict();

const Verified = z
  .object({
    status: z.literal('COMPLETED'),
    creditsAdded: z.number().int().openapi({ description: 'Credits granted for this payment (once, whichever of verify and the webhook came first)' }),
    balance: z.number().int(),
  })
  .openapi('PaymentVerified');

const PaymentStatus = z.enum(paymentStatus.enumValues).openapi('PaymentStatus');

const Payment = z
  .object({
    id: z.uuid(),
    orderId: z.string(),
    paymentId: z.string().nullable(),
    planId: z.string(),
    planName: z.string(),
    amount: z.number().int().openapi({ description: 'Paise' }),
    currency: z.string(),
    credits: z.number().int(),
    status: PaymentStatus,
    paymentMethod: z.string().nullable(),
    failureReason: z.string().nullable(),
    refundedAmount: z.number().int().openapi({ description: 'Paise' }),
    invoiceUrl: z.string().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
    refundedAt: z.string().nullable(),
  })
  .openapi('Payment');

const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
  status: PaymentStatus.optional(),
});

export const paymentRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/create-order',
      tags: ['payments'],
      summary: 'Create a Razorpay order for a plan (honours Idempotency-Key)',
      description:
        'Amount, currency and credits come from the plan table. With an `Idempotency-Key` header (1–255 printable characters), the same key and body within 24 h return the same response (`Idempotent-Replayed: true`); the same key with another body is 409 DUPLICATE_REQUEST.',
      security,
      middleware: [requireUser, idempotency] as const,
      request: {
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        body: { required: true, content: json(CreateOrderBody) },
      },
      responses: {
        200: { description: 'Order created (or replayed)', content: json(z.object({ data: CreatedOrder })) },
        400: err('Invalid body, invalid Idempotency-Key, or a plan that cannot be bought online'),
        401: err('Not signed in'),
        404: err('Unknown or inactive plan'),
        409: err('Idempotency-Key reused with a different request, or still in progress'),
        429: err('Too many payment requests'),
        503: err('Payments disabled or not configured, or Razorpay unavailable'),
      },
    }),
    async (c) => {
      const { planId } = c.req.valid('json');
      const data = await createOrder(serviceContext(c), {
        planId,
        idempotencyKey: c.req.header('Idempotency-Key') ?? null,
        ipAddress: clientIp(c),
        userAgent: c.req.header('User-Agent') ?? null,
      });
      return c.json({ data }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/verify',
      tags: ['payments'],
      summary: 'Verify a Checkout payment and credit it (exactly once)',
      security,
      middleware: [requireUser] as const,
      request: { body: { required: true, content: json(VerifyBody) } },
      responses: {
        200: { description: 'Payment completed; credits granted once', content: json(z.object({ data: Verified })) },
        400: err('Invalid body'),
        401: err('Not signed in'),
        402: err('PAYMENT_FAILED: bad signature, not captured, wrong order or amount'),
        404: err('No such order of yours'),
        409: err('The payment can no longer be completed, or the order was already paid by another payment (details.reason DUPLICATE_PAYMENT, creditsAdded 0: it is refunded automatically, or never captured)'),
        429: err('Too many payment requests'),
        503: err('Payments not configured, or Razorpay unavailable (retry)'),
      },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const data = await verifyPayment(serviceContext(c), {
        razorpayOrderId: b.razorpay_order_id,
        razorpayPaymentId: b.razorpay_payment_id,
        razorpaySignature: b.razorpay_signature,
      });
      return c.json({ data }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/history',
      tags: ['payments'],
      summary: "The caller's payments, newest first",
      security,
      middleware: [requireUser] as const,
      request: { query: HistoryQuery },
      responses: {
        200: {
          description: 'One page of payments',
          content: json(z.object({ data: z.array(Payment), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) })),
        },
        400: err('Invalid limit, offset or status'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listPayments(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: page.items, meta: { total: page.total, limit: q.limit, offset: q.offset } }, 200);
    },
  );
