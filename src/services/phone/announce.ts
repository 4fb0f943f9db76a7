import type { ServiceContext } from '../context';
import { liveAccount } from '../email/recipients';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { createNotification } from '../notifications/create';
import { FREE_CREDITS } from './free-credits';
import { maskPhone } from './strict';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

// The queue side of `phone.verified` and `credits.free_claimed`: the mail and the in-app notification,
// each re-reading the account so a deleted account gets nothing.

const creditsUrl = (ctx: ServiceContext) => frontendUrl(ctx, FRONTEND_PAGES.credits);

export async function mailPhoneVerified(ctx: ServiceContext, input: { userId: string; idempotencyKey: string }): Promise<void> {
  const user = await liveAccount(ctx, input.userId);
  if (!user?.phoneVerifiedAt || !user.phoneNumber) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.phoneVerified({ name: user.firstName, phone: maskPhone(user.phoneNumber), creditsUrl: creditsUrl(ctx) }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyPhoneVerified(ctx: ServiceContext, userId: string): Promise<void> {
  const user = await liveAccount(ctx, userId);
  if (!user?.phoneVerifiedAt) return;
  await createNotification(ctx, {
    userId,
    type: 'SYSTEM',
    title: 'Phone number verified',
    message: 'Your phone number is verified. You can now claim your free credits.',
    actionUrl: creditsUrl(ctx),
    actionLabel: 'Claim credits',
  });
}

export async function mailFreeCredits(ctx: ServiceContext, input: { userId: string; idempotencyKey: string }): Promise<void> {
  const user = await liveAccount(ctx, input.userId);
  if (!user) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.freeCreditsClaimed({ name: user.firstName, amount: FREE_CREDITS, creditsUrl: creditsUrl(ctx) }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyFreeCredits(ctx: ServiceContext, input: { userId: string; transactionId: string }): Promise<void> {
  await createNotification(ctx, {
    userId: input.userId,
    type: 'SYSTEM',
    title: 'Welcome bonus credits',
    message: `${FREE_CREDITS} free credits have been added to your account.`,
    actionUrl: creditsUrl(ctx),
    actionLabel: 'View credits',
    metadata: { transactionId: input.transactionId },
  });
}
