import { createRouter } from '../../router';
import { verifyHmacSha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { processRazorpayWebhook, RazorpayWebhookBody } from '../../services/payments';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';
import { bodyText, invalidSignature, parseJson, verifiedWebhook } from './verify';

/** X-Razorpay-Signature: hex HMAC-SHA256 of the raw body under RAZORPAY_WEBHOOK_SECRET, compared in constant time. */
const verifyRazorpay = verifiedWebhook<{ body: RazorpayWebhookBody; signature: string }>({
  source: 'razorpay',
  async verify(c, raw) {
    const secret = c.get('config').RAZORPAY_WEBHOOK_SECRET;
    if (!secret) throw new AppError('SERVICE_UNAVAILABLE', 'Razorpay webhooks are not configured');
    const signature = c.req.header('X-Razorpay-Signature') ?? '';
    if (!(await verifyHmacSha256Hex(secret, raw, signature))) throw invalidSignature(signature ? 'signature mismatch' : 'no signature');
    const eventId = c.req.header('x-razorpay-event-id')?.trim();
    if (!eventId || eventId.length > 255) throw new AppError('VALIDATION_ERROR', 'Missing x-razorpay-event-id header');
    const body = RazorpayWebhookBody.safeParse(parseJson(bodyText(raw)));
    if (!body.success) throw new AppError('VALIDATION_ERROR', 'Webhook body is not a Razorpay event');
    return { deliveryId: eventId, payload: { body: body.data, signature } };
  },
});

const razorpayEvent = route({
  method: 'post',
  path: '/razorpay',
  operationId: 'webhook.razorpay',
  auth: 'razorpayWebhook',
  tags: ['webhooks'],
  summary: 'Razorpay events (X-Razorpay-Signature over the raw body)',
  description:
    'payment.captured / order.paid complete and credit a payment once; payment.failed marks a PENDING payment FAILED; refund.created / refund.processed refund it (credits clawed back proportionally, once per refund id) — a refund that arrives before the capture first completes the payment from the refunded payment entity, or answers 503 (nothing recorded, so Razorpay redelivers) while that payment is not captured or Razorpay cannot be asked; refund.failed notifies. A second captured payment on an order already paid is never credited and is refunded in full automatically. ' +
    'payment.dispute.* keep the dispute\'s status; payment.dispute.lost takes the purchase\'s credits back (what was already spent is recorded as a shortfall) and tells the buyer. ' +
    'Other events are stored and acknowledged. A replay — the same x-razorpay-event-id, or the same signed body under a new event id — is a no-op (`status: duplicate`).',
  middleware: [webhookRateLimit, verifyRazorpay] as const,
  responses: {
    200: json(
      data(z.object({ status: z.enum(['processed', 'ignored', 'duplicate']), event: z.string(), reason: z.string().optional() })),
      'Processed, ignored or duplicate',
      { data: { status: 'processed', event: 'payment.captured' } },
    ),
    ...errors({
      400: 'Missing x-razorpay-event-id, or a body that is not a Razorpay event',
      401: 'Missing or invalid signature',
      503: 'RAZORPAY_WEBHOOK_SECRET not configured (never accepted unsigned), or a refund of one of our payments that cannot be settled yet (retried by Razorpay)',
      429: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)',
    }),
  },
});

export const razorpayWebhook = createRouter().openapi(razorpayEvent, async (c) => {
  const { ctx, deliveryId, raw, payload } = c.get('webhook');
  return c.json({ data: await processRazorpayWebhook(ctx, { deliveryId, raw, ...payload }) }, 200);
});
