import { Ratelimit } from '@upstash/ratelimit';
import type { Config } from '../config';
import { cacheKeys } from './cache-keys';
import { AppError } from './errors';
import { describeError, log } from './log';
import { getRedis } from './redis';

type Duration = Parameters<typeof Ratelimit.slidingWindow>[1];

/** Every coarse (Redis-backed, fail-open) limit of the API, in one table. Strict per-user limits
 * that must fail closed (OTP) live in the UserState Durable Object instead. The entries marked
 * "fail closed" cap mail to addresses the caller names: they are counted by the quota store
 * (services/email/mail-cap.ts), which refuses when it cannot count. */
export type LimitSpec =
  | { kind: 'slidingWindow'; limit: number; window: Duration }
  | { kind: 'fixedWindow'; limit: number; window: Duration };

export const LIMITS = {
  /** Webhook deliveries per source IP (an IPv6 /64 counts as one), all providers together; generous, from config. */
  webhooks: (perMinute: number): LimitSpec => ({ kind: 'slidingWindow', limit: perMinute, window: '1 m' }),
  /** Star / unstar actions per user. */
  stars: { kind: 'slidingWindow', limit: 10, window: '1 m' } satisfies LimitSpec,
  /** Organizations, teams and projects, per user and kind of operation. */
  orgCreate: { kind: 'slidingWindow', limit: 5, window: '1 h' } satisfies LimitSpec,
  orgUpdate: { kind: 'slidingWindow', limit: 10, window: '5 m' } satisfies LimitSpec,
  orgDelete: { kind: 'slidingWindow', limit: 3, window: '1 h' } satisfies LimitSpec,
  orgRead: { kind: 'slidingWindow', limit: 60, window: '1 m' } satisfies LimitSpec,
  orgAudit: { kind: 'slidingWindow', limit: 30, window: '1 m' } satisfies LimitSpec,
  /** Payment create-order and verify calls, per user (each one reaches Razorpay). */
  payments: { kind: 'slidingWindow', limit: 20, window: '1 m' } satisfies LimitSpec,
  /** Support requests per signed-in user (fails open: the confirmation goes to the user's own address). */
  supportUser: { kind: 'slidingWindow', limit: 3, window: '1 h' } satisfies LimitSpec,
  /** Anonymous support requests per client IP (fails closed: the confirmation goes to the address given). */
  supportAnonymous: { kind: 'slidingWindow', limit: 1, window: '1 h' } satisfies LimitSpec,
  /** Weekly-feedback code submissions: one attempt per code per minute (single use is enforced by the DB). */
  feedbackCode: { kind: 'slidingWindow', limit: 1, window: '60 s' } satisfies LimitSpec,
  /** General feedback, per user. */
  feedbackGeneral: { kind: 'slidingWindow', limit: 5, window: '1 h' } satisfies LimitSpec,
  /** Abuse reports, per user. */
  reports: { kind: 'slidingWindow', limit: 10, window: '1 h' } satisfies LimitSpec,
  /** Newsletter subscribe per client IP (fail closed: it mails the address given); confirm/unsubscribe (signed links) per client IP. */
  newsletterSubscribe: { kind: 'slidingWindow', limit: 1, window: '1 h' } satisfies LimitSpec,
  newsletterToken: { kind: 'slidingWindow', limit: 10, window: '1 h' } satisfies LimitSpec,
  /** Notification stream tickets, per user (a reconnecting client needs one per attempt). */
  streamTicket: { kind: 'slidingWindow', limit: 30, window: '1 m' } satisfies LimitSpec,
  /** Platform invites, per user (fail closed: each mails the address given). */
  platformInvite: { kind: 'slidingWindow', limit: 3, window: '1 h' } satisfies LimitSpec,
} as const;

export interface LimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch milliseconds when the caller may try again / the window resets. */
  resetAt: number;
}

const limiters = new Map<string, Ratelimit>();

function limiterFor(config: Config, name: string, spec: LimitSpec): Ratelimit | null {
  const redis = getRedis(config);
  if (!redis) return null;
  const key = `${config.CACHE_NAMESPACE}|${config.UPSTASH_REDIS_REST_URL}|${name}|${JSON.stringify(spec)}`;
  let limiter = limiters.get(key);
  if (!limiter) {
    const algorithm = spec.kind === 'slidingWindow' ? Ratelimit.slidingWindow(spec.limit, spec.window) : Ratelimit.fixedWindow(spec.limit, spec.window);
    limiter = new Ratelimit({ redis, limiter: algorithm, prefix: cacheKeys(config).rateLimit(name), timeout: config.REDIS_TIMEOUT_MS, analytics: false });
    limiters.set(key, limiter);
  }
  return limiter;
}

/** Consume one unit. Fails open (allowed) when Redis is missing or unreachable, and logs it. */
export async function consumeLimit(config: Config, name: string, spec: LimitSpec, identifier: string): Promise<LimitResult> {
  const limiter = limiterFor(config, name, spec);
  const open: LimitResult = { allowed: true, limit: 0, remaining: 0, resetAt: Date.now() };
  if (!limiter) return open;
  try {
    const r = await limiter.limit(identifier);
    if (r.reason === 'timeout') log('warn', 'ratelimit.timeout', { limiter: name });
    return { allowed: r.success, limit: r.limit, remaining: Math.max(0, r.remaining), resetAt: r.reset };
  } catch (err) {
    log('warn', 'ratelimit.unavailable', { limiter: name, error: describeError(err) });
    return open;
  }
}

/** Standard rate-limit headers for an answer. */
export function limitHeaders(r: LimitResult): Record<string, string> {
  if (!r.limit) return {};
  return {
    'X-RateLimit-Limit': String(r.limit),
    'X-RateLimit-Remaining': String(r.remaining),
    'X-RateLimit-Reset': String(Math.ceil(r.resetAt / 1000)),
  };
}

/** Throws 429 RATE_LIMITED with Retry-After when the limit is exhausted. */
export async function enforceLimit(config: Config, name: string, spec: LimitSpec, identifier: string): Promise<LimitResult> {
  const r = await consumeLimit(config, name, spec, identifier);
  if (!r.allowed) {
    const retryAfter = Math.max(1, Math.ceil((r.resetAt - Date.now()) / 1000));
    throw new AppError('RATE_LIMITED', 'Too many requests, slow down', {
      details: { retryAfter },
      headers: { 'Retry-After': String(retryAfter), ...limitHeaders(r) },
    });
  }
  return r;
}
