import { createRouter } from '../../router';
import { qstashPaths, verifyQstashSignature } from '../../integrations/qstash';
import { AppError } from '../../lib/errors';
import { expireStalePayment, paymentExpiryMessageId } from '../../services/payments';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';
import { bodyText, invalidSignature, verifiedWebhook } from './verify';

const PaymentExpiryBody = z.object({ paymentId: z.uuid() });

/**
 * Upstash-Signature: a JWT over the body's hash and our own URL for the path, verified by the @upstash/qstash
 * Receiver (current, then next signing key). The delivery id is the id the message was published under (one
 * per payment), derived from the signed body: QStash's own headers are not covered by the signature.
 */
const verifyPaymentExpiry = verifiedWebhook<{ paymentId: string }>({
  source: 'qstash',
  async verify(c, raw) {
    const text = bodyText(raw);
    const verdict = await verifyQstashSignature(c.get('config'), { signature: c.req.header('Upstash-Signature'), body: text, path: qstashPaths.paymentExpiry });
    if (verdict === 'unconfigured') throw new AppError('SERVICE_UNAVAILABLE', 'QStash is not configured');
    if (verdict === 'invalid') throw invalidSignature(c.req.header('Upstash-Signature') ? 'signature mismatch' : 'no signature', 'Invalid QStash signature');
    let body;
    try {
      body = PaymentExpiryBody.parse(JSON.parse(text));
    } catch {
      throw new AppError('VALIDATION_ERROR', 'Expected {"paymentId": "<uuid>"}');
    }
    return { deliveryId: paymentExpiryMessageId(body.paymentId), payload: body };
  },
});

const paymentExpiry = route({
  method: 'post',
  path: '/qstash/payment-expiry',
  operationId: 'webhook.qstash.paymentExpiry',
  auth: 'qstashWebhook',
  tags: ['webhooks'],
  summary: 'QStash: cancel a payment order still PENDING 24 h after creation (Upstash-Signature)',
  description:
    'Delivered by QStash 24 h after create-order. The Upstash-Signature JWT is verified (current, then next signing key) over the raw body and our PUBLIC_BASE_URL. Cancels only a payment that is still PENDING and older than 24 h — unless Razorpay reports the order paid: then a captured payment of our amount completes it (credited once) instead. Anything else is acknowledged unchanged.',
  middleware: [webhookRateLimit, verifyPaymentExpiry] as const,
  responses: {
    200: json(data(z.object({ outcome: z.string() })), 'Outcome (cancelled, completed, not_pending, not_due, not_found, paid_at_provider)', {
      data: { outcome: 'cancelled' },
    }),
    ...errors({
      400: 'Body is not {paymentId}',
      401: 'Missing or invalid Upstash-Signature',
      503: 'QStash signing keys not configured',
      429: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)',
    }),
  },
});

export const qstashWebhook = createRouter().openapi(paymentExpiry, async (c) => {
  const { ctx, deliveryId, payload } = c.get('webhook');
  return c.json({ data: { outcome: await expireStalePayment(ctx, { paymentId: payload.paymentId, deliveryId }) } }, 200);
});
