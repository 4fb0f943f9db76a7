import type { MiddlewareHandler } from 'hono';
import { clientIpBucket } from '../../lib/http';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import type { AppEnv } from '../../router';

/**
 * Per-source-IP limit for every webhook route (the global limiter exempts /webhooks/, whose callers are
 * providers, not users). Generous (WEBHOOK_RATE_LIMIT_PER_MINUTE, default 600) so a provider's bursts
 * pass, but a flood of forged deliveries from one address (or one IPv6 /64) is cut off before its
 * signature is even checked. 429 with Retry-After, which providers honour by redelivering later.
 * Like the other coarse limits it fails open: a Redis outage must not lose real deliveries.
 */
export const webhookRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = c.get('config');
  await enforceLimit(config, 'webhooks', LIMITS.webhooks(config.WEBHOOK_RATE_LIMIT_PER_MINUTE), clientIpBucket(c) ?? 'no-ip');
  await next();
};
