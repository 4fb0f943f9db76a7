import { createRoute, z } from '@hono/zod-openapi';
import { Webhook } from 'svix';
import { createRouter, serviceContext } from '../../router';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { applyClerkEvent } from '../../services/users/webhook';
import { recordWebhookDelivery, webhookDeliverySeen } from '../../services/webhooks';
import { ErrorResponse } from '../schemas';
import { webhookRateLimit } from './limit';

const route = createRoute({
  method: 'post',
  path: '/clerk',
  tags: ['webhooks'],
  summary: 'Clerk user events (svix-signed)',
  description:
    'user.created / user.updated upsert by Clerk id (only a verified primary email is stored); user.deleted soft-deletes, and for an id never seen records it as deleted so a late user.created cannot revive it. Other event types are acknowledged and ignored. A replayed svix-id is a no-op.',
  middleware: [webhookRateLimit] as const,
  responses: {
    200: { description: 'Processed, ignored or duplicate', content: { 'application/json': { schema: z.object({ data: z.object({ type: z.string(), outcome: z.string() }) }) } } },
    400: { description: 'Invalid payload', content: { 'application/json': { schema: ErrorResponse } } },
    401: { description: 'Missing or invalid signature, or a timestamp older than 5 minutes', content: { 'application/json': { schema: ErrorResponse } } },
    503: { description: 'CLERK_WEBHOOK_SECRET not configured', content: { 'application/json': { schema: ErrorResponse } } },
    429: { description: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)', content: { 'application/json': { schema: ErrorResponse } } },
  },
});

export const clerkWebhook = createRouter().openapi(route, async (c) => {
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
