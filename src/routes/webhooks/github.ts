import type { Context } from 'hono';
import { AppError } from '../../lib/errors';
import { log } from '../../lib/log';
import { type AppEnv, createRouter, serviceContext } from '../../router';
import { receiveGithubDelivery } from '../../services/github';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';

const githubEvent = route({
  method: 'post',
  path: '/github',
  operationId: 'webhook.github',
  auth: 'githubWebhook',
  tags: ['webhooks'],
  summary: 'GitHub repository events (X-Hub-Signature-256 under the linked project\'s secret)',
  description:
    'Each project that links a repository has its own webhook secret (shown once when the link is made or the secret rotated). ' +
    'X-Hub-Signature-256 is the HMAC-SHA256 of the raw body; it is checked in constant time, before any database transaction is opened, against the secrets of the live projects linked to ' +
    '`repository.full_name`, and the delivery reaches only the projects whose secret matches — none (forged or missing signature, unlinked repository, ' +
    'project without a secret) → 401. `ping` → pong; `push` (any branch) and `release` (published) are recorded in each matching project\'s audit log ' +
    'and notified to its members; other events are acknowledged and ignored. A replayed X-GitHub-Delivery (recorded only once verified) is a no-op. ' +
    'Nothing is ever executed.',
  middleware: [webhookRateLimit] as const,
  responses: {
    200: json(
      data(z.object({ event: z.string(), outcome: z.enum(['pong', 'recorded', 'ignored', 'duplicate']), projects: z.number().int() })),
      'Processed, ignored or duplicate',
      { data: { event: 'push', outcome: 'recorded', projects: 1 } },
    ),
    ...errors({
      400: 'Missing event/delivery header or invalid payload',
      401: 'Missing or invalid signature, or no linked project whose secret matches',
      429: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE, Retry-After)',
    }),
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

export const githubWebhook = createRouter().openapi(githubEvent, async (c) => {
  const bytes = new Uint8Array(await c.req.arrayBuffer()); // the signature covers these exact bytes
  const header = c.req.header('X-Hub-Signature-256') ?? '';
  const signature = header.startsWith('sha256=') ? header.slice('sha256='.length).trim() : '';
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) return reject(c, Boolean(header));
  const event = c.req.header('X-GitHub-Event')?.trim();
  const deliveryId = c.req.header('X-GitHub-Delivery')?.trim();
  if (!event || !/^[a-z_]{1,64}$/.test(event)) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Event header');
  if (!deliveryId || deliveryId.length > 128) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Delivery header');
  const payload = parseBody(new TextDecoder().decode(bytes), c.req.header('Content-Type'));
  try {
    return c.json({ data: await receiveGithubDelivery(serviceContext(c), { event, deliveryId, body: bytes, signature, payload }) }, 200);
  } catch (err) {
    if (err instanceof AppError && err.code === 'AUTH_REQUIRED') return reject(c, true);
    throw err;
  }
});

/** 401, the same for a missing or forged signature and for a repository no project secret matches. */
function reject(c: Context<AppEnv>, hasSignature: boolean): never {
  log('warn', 'webhook.github.rejected', { requestId: c.get('requestId'), hasSignature });
  throw new AppError('AUTH_REQUIRED', 'Invalid webhook signature');
}
