import { cacheKeys } from '../../lib/cache-keys';
import { AppError, tooMany } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { type QuotaCounter, type QuotaReservation, QuotaUnavailable, reserveQuota } from '../../lib/quota';
import type { LimitSpec } from '../../lib/rate-limit';
import type { ServiceContext } from '../context';

/** When the counter store is down, ask clients to come back after this long. */
const UNAVAILABLE_RETRY_SECONDS = 60;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A LIMITS window ('1 h', '60 s') in milliseconds. */
function windowMs(window: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(window.trim());
  if (!m) throw new Error(`unsupported window: ${window}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * Reserve `units` on every counter, failing closed: when the counter store cannot be reached, 503
 * SERVICE_UNAVAILABLE with Retry-After (logged as `event`) — a mail we could not count is a mail we do not send.
 * Returns the reservation, granted or refused, for the caller to word its own 429.
 */
export async function reserveMailQuota(
  ctx: ServiceContext,
  input: { counters: QuotaCounter[]; units: number; event: string; message: string; fields?: Record<string, unknown> },
): Promise<QuotaReservation> {
  try {
    return await reserveQuota(ctx.config, input.counters, input.units);
  } catch (err) {
    if (!(err instanceof QuotaUnavailable)) throw err;
    log('error', input.event, { requestId: ctx.requestId, ...input.fields, error: describeError(err.cause ?? err) });
    throw new AppError('SERVICE_UNAVAILABLE', input.message, { headers: { 'Retry-After': String(UNAVAILABLE_RETRY_SECONDS) } });
  }
}

/**
 * A cap on requests that make us mail an address the caller names (platform invites, newsletter
 * confirmations, anonymous support tickets): one unit of LIMITS[name] for `identifier`, counted by the
 * fail-closed quota store. Over the cap → 429 RATE_LIMITED with Retry-After; counters unreachable → 503.
 */
export async function enforceMailCap(ctx: ServiceContext, input: { name: string; spec: LimitSpec; identifier: string }): Promise<void> {
  const { name, spec, identifier } = input;
  const counter = { key: cacheKeys(ctx.config).quota(`mail:${name}`, identifier), limit: spec.limit, windowMs: windowMs(spec.window) };
  const reservation = await reserveMailQuota(ctx, {
    counters: [counter],
    units: 1,
    event: 'mail_cap.unavailable',
    fields: { cap: name },
    message: 'This cannot be done right now: try again in a minute',
  });
  if (!reservation.granted) throw tooMany('Too many requests, slow down', reservation.retryAfterMs);
}
