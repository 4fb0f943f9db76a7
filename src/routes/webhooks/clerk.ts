import { Webhook } from 'svix';
import { createRouter, serviceContext } from '../../router';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { applyClerkEvent } from '../../services/users/webhook';
import { recordWebhookDelivery, webhookDeliverySeen } from '../../services/webhooks';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';

const clerkEvent = route({
  method: 'post',
  path: '/clerk',
  operationId: 'webhook.clerk',
  auth: 'clerkWebhook',
  tags: ['webhooks'],
  summary: 'Clerk user events (svix-signed)',
  description:
    'user.created / user.updated upsert by Clerk id (only a verified primary email is stored); user.deleted soft-deletes, and for an id never seen records it as deleted so a late user.created cannot revive it. Other event types are acknowledged and ignored. A replayed svix-id is a no-op.',
  middleware: [webhookRateLimit] as const,
  responses: {
    200: json(data(z.object({ type: z.string(), outcome: z.string() })), 'Processed, ignored or duplicate', { data: { type: 'user.created', outcome: 'created' } }),
    ...errors({
      400: 'Invalid payload',
      401: 'Missing or invalid signature, or a timestamp older than 5 minutes',
      503: 'CLERK_WEBHOOK_SECRET not configured',
      429: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)',
    }),
  },
});

export const clerkWebhook = createRouter().openapi(clerkEvent, async (c) => {
  const secret = c.get('config').CLERK_WEBHOOK_SECRET;
  if (!secret) throw new AppError('SERVICE_UNAVAILABLE', 'Clerk webhooks are not configured');
  const headers = { 'svix-id': c.req.header('svix-id') ?? '', 'svix-timestamp': c.req.header('svix-timestamp') ?? '', 'svix-signature': c.req.header('svix-signature') ?? '' };
  const raw = await c.req.text(); // the signature covers these exact bytes
  let body: unknown;
  try {
    // Constant-time HMAC check and a 5-minute timestamp tolerance, by the maintained svix library.
    new Webhook(secret).verify(raw, headers);
  } catch (err) {
    log('warn', 'webhook.clerk.rejected', { requestId: c.get('requestId'), error: describeError(err) });
    throw new AppError('AUTH_REQUIRED', 'Invalid webhook signature');
  }
  try {
    body = JSON.parse(raw);
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Webhook body is not valid JSON');
  }
  const ctx = serviceContext(c);
  if (await webhookDeliverySeen(ctx, 'clerk', headers['svix-id'])) {
    return c.json({ data: { type: (body as { type?: string }).type ?? 'unknown', outcome: 'duplicate' } }, 200);
  }
  // Every branch of applyClerkEvent is idempotent, so the delivery is recorded only after it succeeded:
  // a crash in between is processed again on Clerk's retry instead of being mistaken for a replay.
  const result = await applyClerkEvent(ctx, body);
  await recordWebhookDelivery(ctx, 'clerk', headers['svix-id']);
  return c.json({ data: result }, 200);
});
