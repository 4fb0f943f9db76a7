import { AppError } from '../../lib/errors';
import { createRouter } from '../../router';
import { githubSigners, receiveGithubDelivery, type GithubSigners } from '../../services/github';
import { data, errors, json, route, z } from '../kit';
import { webhookRateLimit } from './limit';
import { bodyText, invalidSignature, parseJson, verifiedWebhook } from './verify';

/** GitHub sends JSON, or `payload=<json>` when the hook's content type is form-encoded. */
function parseBody(text: string, contentType: string | undefined): unknown {
  if (!contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) return parseJson(text);
  const payload = new URLSearchParams(text).get('payload');
  if (payload === null) throw new AppError('VALIDATION_ERROR', 'Webhook body is not valid JSON');
  return parseJson(payload);
}

/**
 * X-Hub-Signature-256: hex HMAC-SHA256 of the raw body under the secret of a project linked to the
 * delivery's repository. Its shape is checked first (401), then the headers and body (400), then the
 * secrets of the linked projects, read outside any transaction (401 when none verifies).
 */
const verifyGithub = verifiedWebhook<{ event: string; payload: unknown; signers: GithubSigners }>({
  source: 'github',
  async verify(c, raw, ctx) {
    const header = c.req.header('X-Hub-Signature-256') ?? '';
    const signature = header.startsWith('sha256=') ? header.slice('sha256='.length).trim() : '';
    if (!/^[0-9a-fA-F]{64}$/.test(signature)) throw invalidSignature(header ? 'malformed signature' : 'no signature');
    const event = c.req.header('X-GitHub-Event')?.trim();
    const deliveryId = c.req.header('X-GitHub-Delivery')?.trim();
    if (!event || !/^[a-z_]{1,64}$/.test(event)) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Event header');
    if (!deliveryId || deliveryId.length > 128) throw new AppError('VALIDATION_ERROR', 'Missing or invalid X-GitHub-Delivery header');
    const payload = parseBody(bodyText(raw), c.req.header('Content-Type'));
    const signers = await githubSigners(ctx, { body: raw, signature, payload });
    return { deliveryId, payload: { event, payload, signers } };
  },
});

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
  middleware: [webhookRateLimit, verifyGithub] as const,
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

export const githubWebhook = createRouter().openapi(githubEvent, async (c) => {
  const { ctx, deliveryId, payload } = c.get('webhook');
  return c.json({ data: await receiveGithubDelivery(ctx, { deliveryId, ...payload }) }, 200);
});
