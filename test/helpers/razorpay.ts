import type { Env } from '../../src/config';
import { hmacSha256Hex } from '../../src/lib/crypto';
import { fakeFetch, type FakeFetch } from './fake-fetch';

export const RZP_KEY_ID = 'rzp_test_1DP5mmOlF5G5ag';
export const RZP_KEY_SECRET = 'thisisatestsecretkey00000';
export const RZP_WEBHOOK_SECRET = 'whsec_fairarena_test_0001';
export const RZP_BASE = 'https://api.razorpay.com';

/** Worker vars that switch payments on against the faked Razorpay. */
export const razorpayVars = {
  RAZORPAY_KEY_ID: RZP_KEY_ID,
  RAZORPAY_KEY_SECRET: RZP_KEY_SECRET,
  RAZORPAY_WEBHOOK_SECRET: RZP_WEBHOOK_SECRET,
  RAZORPAY_API_BASE_URL: RZP_BASE,
};

const rid = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`;
const now = () => Math.floor(Date.now() / 1000);

export interface FakeOrder {
  id: string;
  entity: 'order';
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  receipt: string;
  offer_id: null;
  status: 'created' | 'attempted' | 'paid';
  attempts: number;
  notes: Record<string, string>;
  created_at: number;
}

export interface FakePayment {
  id: string;
  entity: 'payment';
  amount: number;
  currency: string;
  status: 'created' | 'authorized' | 'captured' | 'failed' | 'refunded';
  order_id: string;
  invoice_id: null;
  international: boolean;
  method: string;
  amount_refunded: number;
  refund_status: null | 'partial' | 'full';
  captured: boolean;
  description: string | null;
  card_id: null;
  bank: null;
  wallet: null;
  vpa: string | null;
  email: string;
  contact: string;
  notes: Record<string, string>;
  fee: number | null;
  tax: number | null;
  error_code: string | null;
  error_description: string | null;
  error_source: string | null;
  error_step: string | null;
  error_reason: string | null;
  acquirer_data: Record<string, unknown>;
  created_at: number;
}

export interface FakeRefund {
  id: string;
  entity: string;
  amount: number;
  currency: string;
  payment_id: string;
  notes: Record<string, string> | never[];
  receipt: string | null;
  acquirer_data: { arn: null };
  created_at: number;
  batch_id: null;
  status: 'pending' | 'processed' | 'failed';
  speed_processed: string;
  speed_requested: string;
}

/**
 * An in-memory Razorpay behind fakeFetch: orders (and their payments), payments and capture, with basic-auth
 * checks, plus helpers to "pay" an order, sign Checkout callbacks and build signed webhooks.
 */
export class FakeRazorpay {
  readonly orders = new Map<string, FakeOrder>();
  readonly payments = new Map<string, FakePayment>();
  /** Status codes to answer, in order, before behaving normally again (per "METHOD /path-prefix"). */
  readonly failures = new Map<string, number[]>();
  readonly fetch: FakeFetch;

  constructor() {
    const authed = (handler: (req: Request, url: URL) => Response | Promise<Response>) => async (req: Request) => {
      const url = new URL(req.url);
      const key = `${req.method} ${url.pathname.replace(/\/(order|pay)_[A-Za-z0-9]+/, '')}`;
      const gate = this.gates.get(key)?.shift();
      if (gate) await gate();
      const queued = this.failures.get(key);
      if (queued?.length) {
        const status = queued.shift()!;
        return Response.json({ error: { code: 'SERVER_ERROR', description: 'The server encountered an error' } }, { status });
      }
      if (req.headers.get('Authorization') !== `Basic ${btoa(`${RZP_KEY_ID}:${RZP_KEY_SECRET}`)}`) {
        return Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'Authentication failed' } }, { status: 401 });
      }
      const answer = await handler(req, url);
      if (this.lostAnswers.get(key)) {
        // Razorpay did the work, but the answer never reached us (a gateway timeout on the way back).
        this.lostAnswers.set(key, this.lostAnswers.get(key)! - 1);
        return Response.json({ error: { code: 'SERVER_ERROR', description: 'Gateway timeout' } }, { status: 504 });
      }
      return answer;
    };
    const notFound = () => Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'The id provided does not exist' } }, { status: 400 });
    this.fetch = fakeFetch({
      [`POST ${RZP_BASE}/v1/orders`]: authed(async (req) => {
        const b = (await req.json()) as { amount: number; currency: string; receipt: string; notes: Record<string, string> };
        const order: FakeOrder = {
          id: rid('order'),
          entity: 'order',
          amount: b.amount,
          amount_paid: 0,
          amount_due: b.amount,
          currency: b.currency,
          receipt: b.receipt,
          offer_id: null,
          status: 'created',
          attempts: 0,
          notes: b.notes,
          created_at: now(),
        };
        this.orders.set(order.id, order);
        return Response.json(order);
      }),
      [`GET ${RZP_BASE}/v1/orders/*`]: authed((_req, url) => {
        const [, , , id, sub] = url.pathname.split('/');
        const order = this.orders.get(id!);
        if (!order || (sub !== undefined && sub !== 'payments')) return notFound();
        if (sub === undefined) return Response.json(order);
        // GET /v1/orders/:id/payments — every attempt on the order, as a collection
        const items = [...this.payments.values()].filter((p) => p.order_id === order.id);
        return Response.json({ entity: 'collection', count: items.length, items });
      }),
      [`GET ${RZP_BASE}/v1/payments/*`]: authed((_req, url) => {
        const payment = this.payments.get(url.pathname.split('/').pop()!);
        return payment ? Response.json(payment) : notFound();
      }),
      [`POST ${RZP_BASE}/v1/payments/*`]: authed(async (req, url) => {
        const [, , , id, action] = url.pathname.split('/');
        const payment = this.payments.get(id!);
        if (payment && action === 'refund') return this.refundRequest(req, payment);
        if (!payment || action !== 'capture') return notFound();
        const b = (await req.json()) as { amount: number };
        if (payment.status !== 'authorized' || b.amount !== payment.amount) {
          return Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'This payment has already been captured' } }, { status: 400 });
        }
        this.capture(payment);
        return Response.json(payment);
      }),
    });
  }

  /** Refunds created through POST /v1/payments/:id/refund, with the request that created them. */
  readonly refundsCreated: { refund: FakeRefund; body: Record<string, unknown>; idempotencyKey: string | null }[] = [];
  private readonly refundsByKey = new Map<string, FakeRefund>();

  /** POST /v1/payments/:id/refund as Razorpay answers it, X-Refund-Idempotency included. */
  private async refundRequest(req: Request, payment: FakePayment): Promise<Response> {
    const key = req.headers.get('X-Refund-Idempotency');
    if (key !== null && !/^[A-Za-z0-9_-]{10,}$/.test(key)) {
      return Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'The idempotency key is invalid' } }, { status: 400 });
    }
    const replayed = key ? this.refundsByKey.get(key) : undefined;
    if (replayed) return Response.json(replayed);
    const body = (await req.json()) as { amount?: number; speed?: string; notes?: Record<string, string>; receipt?: string };
    const amount = body.amount ?? payment.amount - payment.amount_refunded;
    if (payment.status !== 'captured' && payment.status !== 'refunded') {
      return Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'The payment has not been captured' } }, { status: 400 });
    }
    if (payment.amount_refunded + amount > payment.amount) {
      return Response.json({ error: { code: 'BAD_REQUEST_ERROR', description: 'The total refund amount is greater than the refund payment amount', field: 'amount' } }, { status: 400 });
    }
    const refund = { ...this.refund(payment, amount, 'pending'), notes: body.notes ?? [], receipt: body.receipt ?? null, speed_requested: body.speed ?? 'normal' };
    if (key) this.refundsByKey.set(key, refund);
    this.refundsCreated.push({ refund, body, idempotencyKey: key });
    return Response.json(refund);
  }

  /** A dispute entity as Razorpay sends it (status `lost` deducts the disputed amount). */
  dispute(p: FakePayment, options: { status?: 'open' | 'under_review' | 'won' | 'lost' | 'closed'; amount?: number; id?: string } = {}) {
    const status = options.status ?? 'open';
    const amount = options.amount ?? p.amount;
    return {
      id: options.id ?? rid('disp'),
      entity: 'dispute',
      payment_id: p.id,
      amount,
      currency: p.currency,
      amount_deducted: status === 'lost' ? amount : 0,
      reason_code: 'chargeback',
      reason_description: 'The cardholder does not recognise the transaction',
      respond_by: now() + 7 * 86_400,
      status,
      phase: 'chargeback',
      created_at: now(),
      evidence: { amount, summary: null, shipping_proof: null, billing_proof: null, cancellation_proof: null, customer_communication: null, proof_of_service: null, explanation_letter: null, refund_confirmation: null, access_activity_log: null, refund_cancellation_policy: null, term_and_conditions: null, others: null, submitted_at: null },
    };
  }

  /** Per "METHOD /v1/…" (ids stripped): calls that wait, in order, until the test opens their gate. */
  readonly gates = new Map<string, (() => Promise<void>)[]>();
  /**
   * The next call to `route` waits until `open()` (keep it under the client's 8 s timeout); `arrived` resolves
   * once that call reached Razorpay.
   */
  hold(route: string): { arrived: Promise<void>; open: () => void } {
    let open!: () => void;
    let arrive!: () => void;
    const arrived = new Promise<void>((r) => (arrive = r));
    const gate = new Promise<void>((r) => (open = r));
    const queue = this.gates.get(route) ?? [];
    queue.push(() => {
      arrive();
      return gate;
    });
    this.gates.set(route, queue);
    return { arrived, open: () => open() };
  }

  /** Calls to "METHOD /v1/…" (ids stripped) that are carried out but whose answer is lost (504). */
  readonly lostAnswers = new Map<string, number>();
  loseNextAnswers(route: string, count = 1): void {
    this.lostAnswers.set(route, count);
  }

  /** The next `count` calls to "METHOD /v1/…" (ids stripped) answer `status`. */
  failNext(route: string, status: number, count = 1): void {
    this.failures.set(route, Array.from({ length: count }, () => status));
  }

  private capture(p: FakePayment) {
    p.status = 'captured';
    p.captured = true;
    const order = this.orders.get(p.order_id);
    if (order) {
      order.status = 'paid';
      order.amount_paid = p.amount;
      order.amount_due = 0;
    }
  }

  /** The customer pays an order in Checkout. */
  pay(orderId: string, options: { status?: FakePayment['status']; amount?: number; method?: string } = {}): FakePayment {
    const order = this.orders.get(orderId);
    if (!order) throw new Error(`no fake order ${orderId}`);
    order.attempts++;
    if (order.status === 'created') order.status = 'attempted';
    const status = options.status ?? 'captured';
    const p: FakePayment = {
      id: rid('pay'),
      entity: 'payment',
      amount: options.amount ?? order.amount,
      currency: order.currency,
      status: status === 'captured' ? 'authorized' : status,
      order_id: orderId,
      invoice_id: null,
      international: false,
      method: options.method ?? 'upi',
      amount_refunded: 0,
      refund_status: null,
      captured: false,
      description: null,
      card_id: null,
      bank: null,
      wallet: null,
      vpa: 'success@razorpay',
      email: 'buyer@example.test',
      contact: '+919999999999',
      notes: {},
      fee: status === 'captured' ? 7078 : null,
      tax: status === 'captured' ? 1080 : null,
      error_code: status === 'failed' ? 'BAD_REQUEST_ERROR' : null,
      error_description: status === 'failed' ? 'Payment was declined by the bank' : null,
      error_source: status === 'failed' ? 'bank' : null,
      error_step: status === 'failed' ? 'payment_authorization' : null,
      error_reason: status === 'failed' ? 'payment_declined' : null,
      acquirer_data: { rrn: '230901495295' },
      created_at: now(),
    };
    if (status === 'captured') this.capture(p);
    this.payments.set(p.id, p);
    return p;
  }

  /** What Checkout hands the browser: HMAC-SHA256(`order_id|payment_id`, key secret), hex. */
  async checkout(p: FakePayment, secret = RZP_KEY_SECRET) {
    return { razorpay_order_id: p.order_id, razorpay_payment_id: p.id, razorpay_signature: await hmacSha256Hex(secret, `${p.order_id}|${p.id}`) };
  }

  /** Refund (part of) a captured payment at Razorpay; returns the refund entity. */
  refund(p: FakePayment, amount = p.amount - p.amount_refunded, status: 'pending' | 'processed' | 'failed' = 'processed'): FakeRefund {
    p.amount_refunded += amount;
    p.refund_status = p.amount_refunded >= p.amount ? 'full' : 'partial';
    if (p.refund_status === 'full') p.status = 'refunded';
    return {
      id: rid('rfnd'),
      entity: 'refund',
      amount,
      currency: p.currency,
      payment_id: p.id,
      notes: [] as FakeRefund['notes'],
      receipt: null as string | null,
      acquirer_data: { arn: null },
      created_at: now(),
      batch_id: null,
      status,
      speed_processed: 'normal',
      speed_requested: 'normal',
    };
  }

  /** A webhook delivery as Razorpay sends it: exact body bytes and signed headers. */
  async webhook(
    event: string,
    entities: { payment?: FakePayment; order?: FakeOrder; refund?: unknown; dispute?: unknown },
    options: { eventId?: string; secret?: string; createdAt?: number } = {},
  ): Promise<{ raw: string; headers: Record<string, string>; eventId: string }> {
    const payload: Record<string, unknown> = {};
    const contains: string[] = [];
    for (const [name, value] of Object.entries(entities)) {
      if (value) {
        payload[name] = { entity: structuredClone(value) };
        contains.push(name);
      }
    }
    const raw = JSON.stringify({ entity: 'event', account_id: 'acc_BFQ7uQEaa7j2z7', event, contains, payload, created_at: options.createdAt ?? now() });
    const eventId = options.eventId ?? `evt_${crypto.randomUUID().replaceAll('-', '').slice(0, 14)}`;
    return {
      raw,
      eventId,
      headers: {
        'Content-Type': 'application/json',
        'X-Razorpay-Signature': await hmacSha256Hex(options.secret ?? RZP_WEBHOOK_SECRET, raw),
        'x-razorpay-event-id': eventId,
      },
    };
  }

  restore(): void {
    this.fetch.restore();
  }
}

export const withRazorpay = (env: Env, extra: Record<string, unknown> = {}): Env => ({ ...env, ...razorpayVars, ...extra }) as Env;
