import { emailDataExport } from '../../services/export';
import { mailFreeCredits, mailPhoneVerified, notifyFreeCredits, notifyPhoneVerified } from '../../services/phone/announce';
import type { EventHandler } from '../types';

export const phoneVerifiedEmail: EventHandler<'phone.verified'> = {
  name: 'phone-verified-email',
  run: (ctx, { userId }) => mailPhoneVerified(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};

export const phoneVerifiedNotification: EventHandler<'phone.verified'> = {
  name: 'phone-verified-notification',
  run: (ctx, { userId }) => notifyPhoneVerified(ctx, userId),
};

export const freeCreditsEmail: EventHandler<'credits.free_claimed'> = {
  name: 'free-credits-email',
  run: (ctx, { userId }) => mailFreeCredits(ctx, { userId, idempotencyKey: ctx.idempotencyKey }),
};

export const freeCreditsNotification: EventHandler<'credits.free_claimed'> = {
  name: 'free-credits-notification',
  run: (ctx, { userId, transactionId }) => notifyFreeCredits(ctx, { userId, transactionId }),
};

/** Build the user's export (their own rows only) and email it; a failed build is answered by a failure mail. */
export const dataExport: EventHandler<'account.export_requested'> = {
  name: 'data-export',
  run: (ctx, { userId }) => emailDataExport(ctx, { userId, eventId: ctx.event.id, idempotencyKey: ctx.idempotencyKey }),
};
