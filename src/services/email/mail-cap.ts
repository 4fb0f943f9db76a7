import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { QuotaUnavailable, reserveQuota } from '../../lib/quota';
import type { LimitSpec } from '../../lib/rate-limit';
import type { ServiceContext } from '../context';

/** When the counter store is down, ask clients to come back after this long. */
const UNAVAILABLE_RETRY_SECONDS = 60;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A LIMITS window ('1 h', '60 s') in milliseconds. */
export function windowMs(window: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(window.trim());
  if (!m) throw new Error(`unsupported window: ${window}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * A cap on requests that make us mail an address the caller names (platform invites, newsletter
 * confirmations, anonymous support tickets): one unit of LIMITS[name] for `identifier`, counted by the
 * fail-closed quota store. Over the cap → 429 RATE_LIMITED with Retry-After; counters unreachable → 503
 * SERVICE_UNAVAILABLE (logged) — a mail we could not count is a mail we do not send.
 */
export async function enforceMailCap(ctx: ServiceContext, input: { name: string; spec: LimitSpec; identifier: string }): Promise<void> {
  const { name, spec, identifier } = input;
  const counter = { key: cacheKeys(ctx.config).quota(`mail:${name}`, identifier), limit: spec.limit, windowMs: windowMs(spec.window) };
  let reservation;
  try {
    reservation = await reserveQuota(ctx.config, [counter], 1);
  } catch (err) {
    if (!(err instanceof QuotaUnavailable)) throw err;
    log('error', 'mail_cap.unavailable', { requestId: ctx.requestId, cap: name, error: describeError(err.cause ?? err) });
    throw new AppError('SERVICE_UNAVAILABLE', 'This cannot be done right now: try again in a minute', {
      headers: { 'Retry-After': String(UNAVAILABLE_RETRY_SECONDS) },
    });
  }
  if (!reservation.granted) {
    const retryAfter = Math.max(1, Math.ceil(reservation.retryAfterMs / 1000));
    throw new AppError('RATE_LIMITED', 'Too many requests, slow down', { details: { retryAfter }, headers: { 'Retry-After': String(retryAfter) } });
  }
}
