import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../router';
import { AppError } from '../lib/errors';
import { clientIpBucket } from '../lib/http';
import { describeError, log } from '../lib/log';

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

const EXEMPT = /^\/(healthz$|livez$|webhooks\/)/;
/** The binding's window (wrangler.toml `[[ratelimits]]` period): the longest a refused client waits. */
const GLOBAL_WINDOW_SECONDS = 60;

/**
 * Global per-client limit (an IPv6 /64 counts as one client) on the Workers Rate Limiting binding: counted in the
 * Cloudflare location that serves the request, with no network round trip. Approximate by design (per location,
 * eventually consistent); the exact per-user and per-feature limits stay on Redis. Fails open (and logs): this
 * limit sheds floods, it does not guard money.
 */
export const globalRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (EXEMPT.test(c.req.path) || c.req.method === 'OPTIONS') return next();
  let allowed = true;
  try {
    allowed = (await c.env.GLOBAL_RATE_LIMITER.limit({ key: clientIpBucket(c) ?? 'no-ip' })).success;
  } catch (err) {
    log('warn', 'ratelimit.unavailable', { limiter: 'global', error: describeError(err) });
  }
  if (!allowed) {
    throw new AppError('RATE_LIMITED', 'Too many requests, slow down', {
      details: { retryAfter: GLOBAL_WINDOW_SECONDS },
      headers: { 'Retry-After': String(GLOBAL_WINDOW_SECONDS) },
    });
  }
  await next();
};
