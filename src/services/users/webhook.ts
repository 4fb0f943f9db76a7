import { z } from 'zod';
import { ClerkUserJson, toUserFields } from '../../integrations/clerk';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { claimWebhookDelivery, webhookDeliveryClaimed } from '../webhooks';
import { softDeleteUser, syncUserFromClerk, type SyncOutcome } from './index';

const ClerkEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('user.created'), data: ClerkUserJson }),
  z.object({ type: z.literal('user.updated'), data: ClerkUserJson }),
  z.object({ type: z.literal('user.deleted'), data: z.object({ id: z.string().min(1).max(255) }) }),
]);
const HANDLED = new Set(['user.created', 'user.updated', 'user.deleted']);

export interface ClerkDelivery {
  /** svix-id: the same on every redelivery of one event. */
  deliveryId: string;
  /** The verified, parsed body. */
  payload: unknown;
}

export type ClerkResult = { type: string; outcome: SyncOutcome | 'deleted' | 'duplicate' };

/**
 * One verified Clerk delivery: its svix-id is claimed in the transaction that applies the event, so a replay
 * is `duplicate` and a failure while applying (an invalid payload, the database) claims nothing — Clerk's
 * redelivery is applied.
 */
export async function receiveClerkEvent(ctx: ServiceContext, delivery: ClerkDelivery): Promise<ClerkResult> {
  const claim = { source: 'clerk', deliveryId: delivery.deliveryId } as const;
  const duplicate = { type: (delivery.payload as { type?: string } | null)?.type ?? 'unknown', outcome: 'duplicate' as const };
  if (await webhookDeliveryClaimed(ctx, claim)) return duplicate;
  return withTransaction(ctx, async (_tx, ctx) => ((await claimWebhookDelivery(ctx, claim)) ? applyClerkEvent(ctx, delivery.payload) : duplicate));
}

/** Apply one Clerk event. Every branch is idempotent as well, so even a replay past the claim is harmless. */
async function applyClerkEvent(ctx: ServiceContext, body: unknown): Promise<ClerkResult> {
  const type = z.object({ type: z.string() }).safeParse(body);
  if (!type.success) throw new AppError('VALIDATION_ERROR', 'Webhook payload has no event type');
  if (!HANDLED.has(type.data.type)) return { type: type.data.type, outcome: 'ignored' };
  const parsed = ClerkEvent.safeParse(body);
  if (!parsed.success) {
    throw new AppError('VALIDATION_ERROR', 'Invalid Clerk webhook payload', {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const event = parsed.data;
  if (event.type === 'user.deleted') {
    return { type: event.type, outcome: (await softDeleteUser(ctx, event.data.id)) ? 'deleted' : 'ignored' };
  }
  return { type: event.type, outcome: await syncUserFromClerk(ctx, { user: toUserFields(event.data) }) };
}
