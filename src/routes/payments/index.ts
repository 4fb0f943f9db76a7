import { paymentStatus } from '../../db/schema';
import { clientIp } from '../../lib/http';
import { idempotency } from '../../middleware/idempotency';
import { createRouter, serviceContext } from '../../router';
import { createOrder, listPayments, verifyPayment } from '../../services/payments';
import { body, data, errors, json, paged, pageOf, Paging, route, z } from '../kit';

const tags = ['payments'];

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
  ...Paging.shape,
  status: PaymentStatus.optional(),
});

export const paymentRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/create-order',
      operationId: 'payment.order.create',
      tags,
      summary: 'Create a Razorpay order for a plan (honours Idempotency-Key)',
      description:
        'Amount, currency and credits come from the plan table. With an `Idempotency-Key` header (1–255 printable characters), the same key and body within 24 h return the same response (`Idempotent-Replayed: true`); the same key with another body is 409 DUPLICATE_REQUEST.',
      auth: 'session',
      middleware: [idempotency] as const,
      request: {
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        ...body(CreateOrderBody, { planId: 'business_plan' }),
      },
      responses: {
        200: json(data(CreatedOrder), 'Order created (or replayed)', {
          data: {
            orderId: 'order_Nx7pQ2bJcE3mKa',
            amount: 299900,
            currency: 'INR',
            keyId: 'rzp_live_AbCdEfGh123456',
            plan: { planId: 'business_plan', name: 'Business', credits: 5000 },
          },
        }),
        ...errors({
          400: 'Invalid body, invalid Idempotency-Key, or a plan that cannot be bought online',
          401: 'Not signed in',
          404: 'Unknown or inactive plan',
          409: 'Idempotency-Key reused with a different request, or still in progress',
          429: 'Too many payment requests',
          503: 'Payments disabled or not configured, or Razorpay unavailable',
        }),
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
    route({
      method: 'post',
      path: '/verify',
      operationId: 'payment.verify',
      tags,
      summary: 'Verify a Checkout payment and credit it (exactly once)',
      auth: 'session',
      request: body(VerifyBody, {
        razorpay_order_id: 'order_Nx7pQ2bJcE3mKa',
        razorpay_payment_id: 'pay_Nx7qA9LmZk2Wc4',
        razorpay_signature: '9ef4dffbfd84f1318f6739a3ce19f9d85851857ae648f114332d8401e0949a3d',
      }),
      responses: {
        200: json(data(Verified), 'Payment completed; credits granted once', { data: { status: 'COMPLETED', creditsAdded: 5000, balance: 5200 } }),
        ...errors({
          400: 'Invalid body',
          401: 'Not signed in',
          402: 'PAYMENT_FAILED: bad signature, not captured, wrong order or amount',
          404: 'No such order of yours',
          409: 'The payment can no longer be completed, or the order was already paid by another payment (details.reason DUPLICATE_PAYMENT, creditsAdded 0: it is refunded automatically, or never captured)',
          429: 'Too many payment requests',
          503: 'Payments not configured, or Razorpay unavailable (retry)',
        }),
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
    route({
      method: 'get',
      path: '/history',
      operationId: 'payment.list',
      tags,
      summary: "The caller's payments, newest first",
      auth: 'session',
      request: { query: HistoryQuery },
      responses: {
        200: json(pageOf(Payment), 'One page of payments'),
        ...errors({ 400: 'Invalid limit, offset or status', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listPayments(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return paged(c, page, q);
    },
  );
