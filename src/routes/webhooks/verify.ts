import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import type { AppEnv } from '../../router';
import { contextFor, type ServiceContext } from '../../services/context';
import type { WebhookSource } from '../../services/webhooks';

/** What a verified delivery hands its handler. */
export interface VerifiedWebhook<P> {
  /** The provider's id for the delivery: the handler's one service call claims it where it applies it. */
  deliveryId: string;
  /** The exact bytes the signature covers. */
  raw: Uint8Array;
  /** What the scheme parsed out of the verified bytes. */
  payload: P;
  /** The service context of this delivery, acting as `{ kind: 'webhook', source }`. */
  ctx: ServiceContext;
}

/** One provider's signature scheme. */
export interface WebhookScheme<P> {
  source: WebhookSource;
  /**
   * Check the signature over `raw` and parse the delivery, or throw the provider's documented refusal:
   * 503 while its secret is not configured, 401 for a missing or wrong signature, 400 for a signed body or
   * header that is not what the provider sends.
   */
  verify(c: Context<AppEnv>, raw: Uint8Array, ctx: ServiceContext): Promise<{ deliveryId: string; payload: P }>;
}

export type WebhookEnv<P> = AppEnv & { Variables: { webhook: VerifiedWebhook<P> } };

/**
 * The one way a webhook is received: this middleware (after the per-IP limit) reads the body once, as bytes —
 * re-serialised JSON would not verify — checks it with the provider's scheme and hands the handler
 * `c.get('webhook')`. The handler then makes one service call that claims `deliveryId` in the transaction that
 * applies the delivery. Refused signatures are logged without the body or the signature.
 */
export function verifiedWebhook<P>(scheme: WebhookScheme<P>): MiddlewareHandler<WebhookEnv<P>> {
  return async (c, next) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const ctx = contextFor(c.get('services'), { kind: 'webhook', source: scheme.source });
    let verified: { deliveryId: string; payload: P };
    try {
      verified = await scheme.verify(c as unknown as Context<AppEnv>, raw, ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'AUTH_REQUIRED') {
        log('warn', `webhook.${scheme.source}.rejected`, { requestId: c.get('requestId'), reason: describeError(err.cause ?? err).message });
      }
      throw err;
    }
    c.set('webhook', { ...verified, raw, ctx });
    await next();
  };
}

/** The body as text (UTF-8), for schemes that parse it or whose library takes a string. */
export const bodyText = (raw: Uint8Array) => new TextDecoder().decode(raw);

/** The signed body as JSON, or 400. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Webhook body is not valid JSON');
  }
}

/** 401, the same whatever was wrong with the signature; `reason` (logged, never answered) says what. */
export const invalidSignature = (reason: unknown, message = 'Invalid webhook signature') =>
  new AppError('AUTH_REQUIRED', message, { cause: reason instanceof Error ? reason : new Error(String(reason)) });
