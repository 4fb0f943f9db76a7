import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../router';
import { AppError } from '../lib/errors';
import { clientIpBucket } from '../lib/http';
import { enforceLimit, LIMITS } from '../lib/rate-limit';

/** 413 in the envelope for bodies over MAX_BODY_BYTES (checked on Content-Length and while streaming). */
export const bodySizeLimit: MiddlewareHandler<AppEnv> = (c, next) =>
  bodyLimit({
    maxSize: c.get('config').MAX_BODY_BYTES,
    onError: () => {
      throw new AppError('PAYLOAD_TOO_LARGE', `Request body exceeds ${c.get('config').MAX_BODY_BYTES} bytes`);
    },
  })(c, next);

/** Maintenance mode blocks the public API only: never /healthz, webhooks, queue consumers or crons. */
export const maintenanceGate: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get('config').MAINTENANCE_MODE) {
    throw new AppError('MAINTENANCE', 'FairArena is down for maintenance, please try again shortly', {
      headers: { 'Retry-After': '300' },
    });
  }
  await next();
};

const EXEMPT = /^\/(healthz$|webhooks\/)/;

/** Global per-client token bucket (an IPv6 /64 counts as one client). Fails open (and logs) when Redis is unavailable. */
export const globalRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (EXEMPT.test(c.req.path) || c.req.method === 'OPTIONS') return next();
  const config = c.get('config');
  await enforceLimit(config, 'global', LIMITS.global(config.GLOBAL_RATE_LIMIT_PER_MINUTE), clientIpBucket(c) ?? 'no-ip');
  await next();
};
