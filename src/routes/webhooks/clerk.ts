import { Webhook } from 'svix';
import { createRouter } from '../../router';
import { AppError } from '../../lib/errors';
import { receiveClerkEvent } from '../../services/users/webhook';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';
import { bodyText, invalidSignature, parseJson, verifiedWebhook } from './verify';

/** svix: HMAC over `id.timestamp.body`, checked in constant time with a 5-minute timestamp tolerance by the svix library. */
const verifyClerk = verifiedWebhook<unknown>({
  source: 'clerk',
  async verify(c, raw) {
    const secret = c.get('config').CLERK_WEBHOOK_SECRET;
    if (!secret) throw new AppError('SERVICE_UNAVAILABLE', 'Clerk webhooks are not configured');
    const headers = { 'svix-id': c.req.header('svix-id') ?? '', 'svix-timestamp': c.req.header('svix-timestamp') ?? '', 'svix-signature': c.req.header('svix-signature') ?? '' };
    const text = bodyText(raw);
    try {
      new Webhook(secret).verify(text, headers);
    } catch (err) {
      throw invalidSignature(err);
    }
    return { deliveryId: headers['svix-id'], payload: parseJson(text) };
  },
});

const clerkEvent = route({
  method: 'post',
  path: '/clerk',
  operationId: 'webhook.clerk',
  auth: 'clerkWebhook',
  tags: ['webhooks'],
  summary: 'Clerk user events (svix-signed)',
  description:
    'user.created / user.updated upsert by Clerk id (only a verified primary email is stored); user.deleted soft-deletes, and for an id never seen records it as deleted so a late user.created cannot revive it. Other event types are acknowledged and ignored. A replayed svix-id is a no-op.',
  middleware: [webhookRateLimit, verifyClerk] as const,
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
  const { ctx, deliveryId, payload } = c.get('webhook');
  return c.json({ data: await receiveClerkEvent(ctx, { deliveryId, payload }) }, 200);
});
