import { z } from 'zod';
import type { Config } from '../config';
import { describeError, log } from '../lib/log';
import { httpCall, jsonOf } from '../lib/http';
import { traceHeaders } from '../lib/trace';

/**
 * Razorpay REST API over fetch (no Node SDK): basic auth `key_id:key_secret`, base URL from config
 * (RAZORPAY_API_BASE_URL), a timeout per attempt, and one retry on a network error, a timeout or a 5xx.
 * Amounts are integers in the currency's minor unit (paise).
 */

const TIMEOUT_MS = 8000;
const RETRY_DELAY_MS = 250;

export class RazorpayError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 for a network error / timeout. */
    readonly status: number,
    readonly code: string | null = null,
    /** Whether a later attempt may succeed (network, timeout, 5xx, 429). */
    readonly retryable = status === 0 || status >= 500 || status === 429,
  ) {
    super(message);
    this.name = 'RazorpayError';
  }
}

export interface RazorpayCredentials {
  keyId: string;
  keySecret: string;
}

/** The API keys, or null when Razorpay is not configured. */
export function razorpayCredentials(config: Config): RazorpayCredentials | null {
  return config.RAZORPAY_KEY_ID && config.RAZORPAY_KEY_SECRET ? { keyId: config.RAZORPAY_KEY_ID, keySecret: config.RAZORPAY_KEY_SECRET } : null;
}

const notes = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish();

export const RazorpayOrder = z.looseObject({
  id: z.string().min(1),
  entity: z.literal('order').optional(),
  amount: z.number().int(),
  amount_paid: z.number().int().optional(),
  amount_due: z.number().int().optional(),
  currency: z.string(),
  receipt: z.string().nullish(),
  status: z.string(),
  attempts: z.number().int().optional(),
  notes,
  created_at: z.number().optional(),
});
export type RazorpayOrder = z.infer<typeof RazorpayOrder>;

export const RazorpayPayment = z.looseObject({
  id: z.string().min(1),
  entity: z.literal('payment').optional(),
  amount: z.number().int(),
  currency: z.string(),
  status: z.string(),
  order_id: z.string().nullish(),
  method: z.string().nullish(),
  captured: z.boolean().nullish(),
  email: z.string().nullish(),
  contact: z.string().nullish(),
  error_code: z.string().nullish(),
  error_description: z.string().nullish(),
  amount_refunded: z.number().int().nullish(),
  refund_status: z.string().nullish(),
  created_at: z.number().optional(),
  notes,
});
export type RazorpayPayment = z.infer<typeof RazorpayPayment>;

export const RazorpayRefund = z.looseObject({
  id: z.string().min(1),
  entity: z.literal('refund').optional(),
  amount: z.number().int(),
  currency: z.string().optional(),
  payment_id: z.string().min(1),
  status: z.string().optional(),
  notes,
});
export type RazorpayRefund = z.infer<typeof RazorpayRefund>;

export const RazorpayDispute = z.looseObject({
  id: z.string().min(1),
  entity: z.literal('dispute').optional(),
  payment_id: z.string().min(1),
  amount: z.number().int().nonnegative(),
  currency: z.string(),
  /** Deducted from our balance; 0 unless the dispute is lost. */
  amount_deducted: z.number().int().nonnegative().nullish(),
  reason_code: z.string().nullish(),
  respond_by: z.number().nullish(),
  status: z.string(),
  phase: z.string().nullish(),
  created_at: z.number().optional(),
});
export type RazorpayDispute = z.infer<typeof RazorpayDispute>;

/** GET /v1/orders/:id/payments answers a collection. */
const RazorpayPaymentCollection = z.looseObject({
  entity: z.string().optional(),
  count: z.number().int().optional(),
  items: z.array(RazorpayPayment),
});

/**
 * Whether Razorpay took the money for this payment: `captured: true`, or (when the flag is absent) a
 * status that only a captured payment reaches. An authorization that was never captured and then
 * auto-refunded shows `status: refunded` with `captured: false` — not captured.
 */
export function wasCaptured(p: Pick<RazorpayPayment, 'status' | 'captured'>): boolean {
  if (typeof p.captured === 'boolean') return p.captured;
  return p.status === 'captured' || p.status === 'refunded';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function request<T>(config: Config, method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
  const creds = razorpayCredentials(config);
  if (!creds) throw new RazorpayError('Razorpay is not configured', 0, 'NOT_CONFIGURED', false);
  const url = `${config.RAZORPAY_API_BASE_URL.replace(/\/+$/, '')}${path}`;
  const headers: Record<string, string> = { Authorization: `Basic ${btoa(`${creds.keyId}:${creds.keySecret}`)}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, traceHeaders(), extraHeaders);
  let last: RazorpayError | undefined;
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const res = await httpCall(`Razorpay ${method} ${path}`, url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, TIMEOUT_MS);
      const json = jsonOf(res);
      if (!res.ok) {
        const e = (json as { error?: { code?: string; description?: string } } | null)?.error;
        last = new RazorpayError(`Razorpay ${method} ${path} failed with ${res.status}: ${e?.description ?? 'no description'}`, res.status, e?.code ?? null);
      } else {
        const parsed = schema.safeParse(json);
        if (parsed.success) return parsed.data;
        throw new RazorpayError(`Razorpay ${method} ${path} returned an unexpected body`, res.status, 'BAD_RESPONSE', false);
      }
    } catch (err) {
      if (err instanceof RazorpayError) throw err;
      last = new RazorpayError(`Razorpay ${method} ${path}: ${describeError(err).message}`, 0, describeError(err).name);
    }
    if (!last.retryable || attempt === 2) break;
    log('warn', 'razorpay.retry', { method, path, status: last.status, error: last.message });
    await sleep(RETRY_DELAY_MS);
  }
  throw last!;
}

export interface CreateOrderInput {
  amount: number;
  currency: string;
  /** Our reference, ≤ 40 characters. */
  receipt: string;
  notes: Record<string, string>;
}

/** POST /v1/orders */
export function createRazorpayOrder(config: Config, input: CreateOrderInput): Promise<RazorpayOrder> {
  return request(config, 'POST', '/v1/orders', RazorpayOrder, input);
}

/** GET /v1/orders/:id */
export function fetchRazorpayOrder(config: Config, orderId: string): Promise<RazorpayOrder> {
  return request(config, 'GET', `/v1/orders/${encodeURIComponent(orderId)}`, RazorpayOrder);
}

/** GET /v1/orders/:id/payments — every payment attempt on an order. */
export async function fetchRazorpayOrderPayments(config: Config, orderId: string): Promise<RazorpayPayment[]> {
  return (await request(config, 'GET', `/v1/orders/${encodeURIComponent(orderId)}/payments`, RazorpayPaymentCollection)).items;
}

/** GET /v1/payments/:id */
export function fetchRazorpayPayment(config: Config, paymentId: string): Promise<RazorpayPayment> {
  return request(config, 'GET', `/v1/payments/${encodeURIComponent(paymentId)}`, RazorpayPayment);
}

/** POST /v1/payments/:id/capture — for accounts without automatic capture. */
export function captureRazorpayPayment(config: Config, paymentId: string, input: { amount: number; currency: string }): Promise<RazorpayPayment> {
  return request(config, 'POST', `/v1/payments/${encodeURIComponent(paymentId)}/capture`, RazorpayPayment, input);
}

export interface CreateRefundInput {
  /** Minor units; the whole payment when it is what was captured. */
  amount: number;
  /** ≤ 15 string pairs, shown in the Razorpay dashboard. */
  notes: Record<string, string>;
  /** Our reference, ≤ 40 characters. */
  receipt: string;
  /**
   * X-Refund-Idempotency (≥ 10 characters of [A-Za-z0-9_-]): a retried request with the same key
   * answers the refund already created instead of refunding twice.
   */
  idempotencyKey: string;
}

/** POST /v1/payments/:id/refund — a normal-speed refund of a captured payment. */
export function createRazorpayRefund(config: Config, paymentId: string, input: CreateRefundInput): Promise<RazorpayRefund> {
  const { idempotencyKey, ...body } = input;
  return request(config, 'POST', `/v1/payments/${encodeURIComponent(paymentId)}/refund`, RazorpayRefund, { ...body, speed: 'normal' }, {
    'X-Refund-Idempotency': idempotencyKey,
  });
}
