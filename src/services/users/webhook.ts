import { z } from 'zod';
import { ClerkUserJson, toUserFields } from '../../integrations/clerk';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { softDeleteUser, syncUserFromClerk, type SyncOutcome } from './index';

const ClerkEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('user.created'), data: ClerkUserJson }),
  z.object({ type: z.literal('user.updated'), data: ClerkUserJson }),
  z.object({ type: z.literal('user.deleted'), data: z.object({ id: z.string().min(1).max(255) }) }),
]);
const HANDLED = new Set(['user.created', 'user.updated', 'user.deleted']);

/** Apply one verified Clerk webhook event. Every branch is idempotent, so redelivery is harmless. */
export async function applyClerkEvent(ctx: ServiceContext, body: unknown): Promise<{ type: string; outcome: SyncOutcome | 'deleted' }> {
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
  return { type: event.type, outcome: await syncUserFromClerk(ctx, toUserFields(event.data)) };
}
