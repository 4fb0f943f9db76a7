import { createRouter, serviceContext } from '../../router';
import { qstashPaths, verifyQstashSignature } from '../../integrations/qstash';
import { AppError } from '../../lib/errors';
import { log } from '../../lib/log';
import { expireStalePayment } from '../../services/payments';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';

const PaymentExpiryBody = z.object({ paymentId: z.uuid() });

const paymentExpiry = route({
  method: 'post',
  path: '/qstash/payment-expiry',
  operationId: 'webhook.qstash.paymentExpiry',
  auth: 'qstashWebhook',
  tags: ['webhooks'],
  summary: 'QStash: cancel a payment order still PENDING 24 h after creation (Upstash-Signature)',
  description:
    'Delivered by QStash 24 h after create-order. The Upstash-Signature JWT is verified (current, then next signing key) over the raw body and our PUBLIC_BASE_URL. Cancels only a payment that is still PENDING and older than 24 h — unless Razorpay reports the order paid: then a captured payment of our amount completes it (credited once) instead. Anything else is acknowledged unchanged.',
  middleware: [webhookRateLimit] as const,
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
  const raw = await c.req.text();
  const config = c.get('config');
  const verdict = await verifyQstashSignature(config, { signature: c.req.header('Upstash-Signature'), body: raw, path: qstashPaths.paymentExpiry });
  if (verdict === 'unconfigured') throw new AppError('SERVICE_UNAVAILABLE', 'QStash is not configured');
  if (verdict === 'invalid') {
    log('warn', 'webhook.qstash.rejected', { requestId: c.get('requestId') });
    throw new AppError('AUTH_REQUIRED', 'Invalid QStash signature');
  }
  let body;
  try {
    body = PaymentExpiryBody.parse(JSON.parse(raw));
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Expected {"paymentId": "<uuid>"}');
  }
  const ctx = serviceContext(c);
  const outcome = await expireStalePayment({ db: ctx.db.write, config, events: ctx.events }, body.paymentId);
  return c.json({ data: { outcome } }, 200);
});
