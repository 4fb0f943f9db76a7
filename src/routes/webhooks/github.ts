import { createRoute, z } from '@hono/zod-openapi';
import { verifyHmacSha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { log } from '../../lib/log';
import { createRouter } from '../../router';
import { serviceContext } from '../../services/context';
import { applyGithubEvent } from '../../services/github';
import { claimWebhookDelivery, releaseWebhookDelivery } from '../../services/webhooks';
import { ErrorResponse } from '../schemas';

const route = createRoute({
  method: 'post',
  path: '/github',
  tags: ['webhooks'],
  summary: 'GitHub repository events (X-Hub-Signature-256)',
  description:
    'HMAC-SHA256 of the raw body with GITHUB_WEBHOOK_SECRET, compared in constant time; refused while the secret is unset. ' +
    '`ping` → pong; `push` (any branch) and `release` (published) on a repository linked to a project are recorded in its audit log and notified to its members; ' +
    'anything else, or an unlinked repository, is acknowledged and ignored. A replayed X-GitHub-Delivery is a no-op. Nothing is ever executed.',
  responses: {
    200: {
      description: 'Processed, ignored or duplicate',
      content: {
        'application/json': {
          schema: z.object({ data: z.object({ event: z.string(), outcome: z.enum(['pong', 'recorded', 'ignored', 'duplicate']), projects: z.number().int() }) }),
        },
      },
    },
    400: { description: 'Missing event/delivery header or invalid payload', content: { 'application/json': { schema: ErrorResponse } } },
    401: { description: 'Missing or invalid signature', content: { 'application/json': { schema: ErrorResponse } } },
    503: { description: 'GITHUB_WEBHOOK_SECRET not configured', content: { 'application/json': { schema: ErrorResponse } } },
  },
});

/** GitHub sends JSON, or `payload=<json>` when the hook's content type is form-encoded. */
function parseBody(raw: string, contentType: string | undefined): unknown {
  try {
    if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      const payload = new URLSearchParams(raw).get('payload');
      if (payload === null) throw new Error('no payload field');
      return JSON.parse(payload);
    }
    return JSON.parse(raw);
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Webhook body is not valid JSON');
  }
}

export const githubWebhook = createRouter().openapi(route, async (c) => {
  const secret = c.get('config').GITHUB_WEBHOOK_SECRET;
  if (!secret) throw new AppError('SERVICE_UNAVAILABLE', 'GitHub webhooks are not configured');
  const bytes = new Uint8Array(await c.req.arrayBuffer()); // the signature covers these exact bytes
  const header = c.req.header('X-Hub-Signature-256') ?? '';
  const signature = header.startsWith('sha256=') ? header.slice('sha256='.length) : null;
  if (!(await verifyHmacSha256Hex(secret, bytes, signature))) {
    log('warn', 'webhook.github.rejected', { requestId: c.get('requestId'), hasSignature: Boolean(header) });
    throw new AppError('AUTH_REQUIRED', 'Invalid webhook signature');
  }
  const event = c.req.header('X-GitHub-Event')?.trim();
  const deliveryId = c.req.header('X-GitHub-Delivery')?.trim();
  if (!event || !/^[a-z_]{1,64}$/.test(event)) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Event header');
  if (!deliveryId || deliveryId.length > 128) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Delivery header');
  const payload = parseBody(new TextDecoder().decode(bytes), c.req.header('Content-Type'));

  const ctx = serviceContext(c);
  if (!(await claimWebhookDelivery(ctx, 'github', deliveryId))) {
    return c.json({ data: { event, outcome: 'duplicate' as const, projects: 0 } }, 200);
  }
  try {
    return c.json({ data: await applyGithubEvent(ctx, { event, deliveryId, payload }) }, 200);
  } catch (err) {
    await releaseWebhookDelivery(ctx, 'github', deliveryId); // so GitHub's redelivery is processed
    throw err;
  }
});
