import { createRoute, z } from '@hono/zod-openapi';
import { Webhook } from 'svix';
import { createRouter } from '../../router';
import { AppError } from '../../lib/errors';
import { receiveClerkEvent } from '../../services/users/webhook';
import { ErrorResponse } from '../schemas';
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

const route = createRoute({
  method: 'post',
  path: '/clerk',
  tags: ['webhooks'],
  summary: 'Clerk user events (svix-signed)',
  description:
    'user.created / user.updated upsert by Clerk id (only a verified primary email is stored); user.deleted soft-deletes, and for an id never seen records it as deleted so a late user.created cannot revive it. Other event types are acknowledged and ignored. A replayed svix-id is a no-op.',
  middleware: [webhookRateLimit, verifyClerk] as const,
  responses: {
    200: { description: 'Processed, ignored or duplicate', content: { 'application/json': { schema: z.object({ data: z.object({ type: z.string(), outcome: z.string() }) }) } } },
    400: { description: 'Invalid payload', content: { 'application/json': { schema: ErrorResponse } } },
    401: { description: 'Missing or invalid signature, or a timestamp older than 5 minutes', content: { 'application/json': { schema: ErrorResponse } } },
    503: { description: 'CLERK_WEBHOOK_SECRET not configured', content: { 'application/json': { schema: ErrorResponse } } },
    429: { description: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)', content: { 'application/json': { schema: ErrorResponse } } },
  },
});

export const clerkWebhook = createRouter().openapi(route, async (c) => {
  const { ctx, deliveryId, payload } = c.get('webhook');
  return c.json({ data: await receiveClerkEvent(ctx, { deliveryId, payload }) }, 200);
});
