import type { MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { serviceContext, type AppEnv } from '../router';
import { sha256Hex } from '../lib/crypto';
import { AppError } from '../lib/errors';
import { describeError, log } from '../lib/log';
import { claimIdempotencyKey, releaseIdempotencyKey, storeIdempotentResponse } from '../services/idempotency';

/** 1–255 printable ASCII characters. */
const KEY = /^[\x20-\x7e]{1,255}$/;

/** JSON with sorted keys, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

async function requestHash(method: string, path: string, raw: string): Promise<string> {
  let body = raw;
  try {
    body = canonical(JSON.parse(raw));
  } catch {
    // not JSON: hash the bytes as sent
  }
  return sha256Hex(`${method} ${path}\n${body}`);
}

/**
 * `Idempotency-Key` for POST routes, like Stripe's: per user, the same key with the same request
 * (method + path + canonical JSON body) within 24 h gets the stored response again (header
 * `Idempotent-Replayed: true`); the same key with a different request, or while the first is still
 * running, is 409 DUPLICATE_REQUEST. A claim in flight for over a minute counts as abandoned and the same
 * request (only) may take it over; the superseded request then neither stores nor releases it. Only 2xx
 * responses are stored: after an error the key is released and a retry runs for real. Without the header
 * the route behaves normally. Mount after `requireUser`.
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header('Idempotency-Key');
  if (key === undefined) return next();
  if (!KEY.test(key)) {
    throw new AppError('VALIDATION_ERROR', 'Idempotency-Key must be 1–255 printable ASCII characters', { details: { target: 'header' } });
  }
  if (!c.get('userId')) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  const ctx = serviceContext(c);
  const claim = await claimIdempotencyKey(ctx, { key, requestHash: await requestHash(c.req.method, c.req.path, await c.req.text()) });
  if (claim.kind === 'replay') {
    return c.json(claim.body as object, claim.status as ContentfulStatusCode, { 'Idempotent-Replayed': 'true' });
  }

  const held = { key, token: claim.token };
  try {
    await next();
  } catch (err) {
    await releaseIdempotencyKey(ctx, held).catch(() => undefined);
    throw err;
  }
  try {
    const status = c.res.status;
    if (status >= 200 && status < 300 && !c.error) {
      const stored = await storeIdempotentResponse(ctx, { ...held, status, body: await c.res.clone().json() });
      // Ran past IN_FLIGHT_STALE_SECONDS and a retry took the key over: its result is the one replayed.
      if (!stored) log('warn', 'idempotency.claim_lost', { path: c.req.path });
    } else {
      await releaseIdempotencyKey(ctx, held);
    }
  } catch (err) {
    // The response stands; without a stored result a retry simply runs again.
    log('warn', 'idempotency.store_failed', { error: describeError(err) });
    await releaseIdempotencyKey(ctx, held).catch(() => undefined);
  }
};
