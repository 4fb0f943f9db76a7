import { and, eq } from 'drizzle-orm';
import { payments } from '../../db/schema';
import { emit } from '../../events/outbox';
import { createRazorpayOrder, razorpayCredentials, type RazorpayCredentials } from '../../integrations/razorpay';
import { AppError } from '../../lib/errors';
import { log } from '../../lib/log';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, withTransaction, type ServiceContext } from '../context';
import { planForCheckout } from '../plans';
import { providerUnavailable } from './provider-errors';

/** 503 unless payments are switched on (PAYMENTS_ENABLED, read per request) and Razorpay keys are set. */
export function requirePayments(ctx: ServiceContext, options: { allowWhenDisabled?: boolean } = {}): RazorpayCredentials {
  const config = ctx.config;
  if (!config.PAYMENTS_ENABLED && !options.allowWhenDisabled) {
    throw new AppError('SERVICE_UNAVAILABLE', 'Payments are currently disabled', { details: { reason: 'PAYMENTS_DISABLED' } });
  }
  const creds = razorpayCredentials(config);
  if (!creds) throw new AppError('SERVICE_UNAVAILABLE', 'Payments are not configured', { details: { reason: 'PAYMENTS_NOT_CONFIGURED' } });
  return creds;
}

export interface CreateOrderInput {
  planId: string;
  /** The request's Idempotency-Key, stored on the payment for support (replays are answered by the middleware). */
  idempotencyKey?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
}

export interface CreatedOrder {
  orderId: string;
  amount: number;
  currency: string;
  keyId: string;
  plan: { planId: string; name: string; credits: number };
}

/**
 * Create a Razorpay order for a plan and record it as a PENDING payment. Amount, currency and credits
 * come from OUR plan table (never from the client); the same values are copied onto the payment, so
 * later plan edits never change what a paid order grants. `payment.order_created` schedules the 24 h
 * expiry through QStash.
 */
export async function createOrder(ctx: ServiceContext, input: CreateOrderInput): Promise<CreatedOrder> {
  const userId = requireCaller(ctx);
  const creds = requirePayments(ctx);
  await enforceLimit(ctx.config, 'payments', LIMITS.payments, userId);
  const plan = await planForCheckout(ctx, input.planId);
  if (!plan.purchasable) {
    throw new AppError('VALIDATION_ERROR', 'This plan has custom pricing and cannot be bought online; contact sales', {
      details: { reason: 'PLAN_NOT_PURCHASABLE', planId: plan.planId },
    });
  }

  const paymentId = crypto.randomUUID();
  const receipt = `rcpt_${paymentId.replaceAll('-', '')}`; // 37 chars (Razorpay allows 40)
  let order;
  try {
    order = await createRazorpayOrder(ctx.config, {
      amount: plan.amount,
      currency: plan.currency,
      receipt,
      notes: { paymentId, userId, planId: plan.planId, credits: String(plan.credits) },
    });
  } catch (err) {
    throw providerUnavailable(err, 'create-order');
  }
  if (order.amount !== plan.amount || order.currency !== plan.currency) {
    log('error', 'razorpay.order_mismatch', { orderId: order.id, expected: plan.amount, got: order.amount, currency: order.currency });
    throw new AppError('INTERNAL_ERROR', 'The payment provider returned an unexpected order');
  }

  await withTransaction(ctx, async (tx, ctx) => {
    // payments(user_id, idempotency_key) is unique: a key reused after its 24 h window stays on the first payment.
    let idempotencyKey = input.idempotencyKey ?? null;
    if (idempotencyKey) {
      const [taken] = await tx
        .select({ id: payments.id })
        .from(payments)
        .where(and(eq(payments.userId, userId), eq(payments.idempotencyKey, idempotencyKey)))
        .limit(1);
      if (taken) idempotencyKey = null;
    }
    await tx.insert(payments).values({
      id: paymentId,
      userId,
      razorpayOrderId: order.id,
      planId: plan.planId,
      planName: plan.name,
      amount: plan.amount,
      currency: plan.currency,
      credits: plan.credits,
      status: 'PENDING',
      idempotencyKey,
      ipAddress: input.ipAddress ?? null,
      userAgent: input.userAgent?.slice(0, 512) ?? null,
      notes: { receipt },
    });
    await emit(tx, ctx.events, 'payment.order_created', { paymentId, userId });
  });
  log('info', 'payment.order_created', { paymentId, orderId: order.id, userId, planId: plan.planId });
  return {
    orderId: order.id,
    amount: plan.amount,
    currency: plan.currency,
    keyId: creds.keyId,
    plan: { planId: plan.planId, name: plan.name, credits: plan.credits },
  };
}
