import { eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import { updateClerkUserNames } from '../../integrations/clerk';
import type { ServiceContext } from '../context';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { createNotification } from '../notifications/create';
import { ACCOUNT_RETENTION_DAYS } from './index';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

// The queue side of `user.created`, `user.deleted`, `user.recovered` and `user.name_changed`. Each reads
// the account at delivery time (payloads carry ids only) and re-checks that the mail is still due. An
// address not known yet is passed on as is: `sendEmail` refuses it and the queue retries later.

interface MailInput {
  userId: string;
  idempotencyKey: string;
}

async function recipient(ctx: ServiceContext, userId: string) {
  const [user] = await ctx.db.write
    .select({ email: users.email, firstName: users.firstName, deletedAt: users.deletedAt, anonymizedAt: users.anonymizedAt })
    .from(users)
    .where(eq(users.id, userId));
  return user;
}

export async function mailWelcome(ctx: ServiceContext, input: MailInput): Promise<void> {
  const user = await recipient(ctx, input.userId);
  if (!user || user.deletedAt) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.welcome({ name: user.firstName, appUrl: frontendUrl(ctx, FRONTEND_PAGES.home) }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyWelcome(ctx: ServiceContext, userId: string): Promise<void> {
  await createNotification(ctx, {
    userId,
    type: 'SYSTEM',
    title: 'Welcome to FairArena',
    message: 'Your account is ready. Complete your profile to get started.',
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.profile),
    actionLabel: 'Complete profile',
  });
}

/** Sent while the account is recoverable: skipped once its personal data is anonymised. */
export async function mailAccountDeleted(ctx: ServiceContext, input: MailInput): Promise<void> {
  const user = await recipient(ctx, input.userId);
  if (!user || user.anonymizedAt) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.accountDeleted({ name: user.firstName, retentionDays: ACCOUNT_RETENTION_DAYS }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function mailAccountRecovered(ctx: ServiceContext, input: MailInput): Promise<void> {
  const user = await recipient(ctx, input.userId);
  if (!user || user.deletedAt) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.accountRecovered({ name: user.firstName, appUrl: frontendUrl(ctx, FRONTEND_PAGES.home) }),
    idempotencyKey: input.idempotencyKey,
  });
}

export async function notifyAccountRecovered(ctx: ServiceContext, userId: string): Promise<void> {
  await createNotification(ctx, {
    userId,
    type: 'SYSTEM',
    title: 'Welcome back',
    message: 'Your previous account has been recovered.',
  });
}

/** Reads the names at delivery time, so a burst of edits converges on the latest one. */
export async function syncNamesToClerk(ctx: ServiceContext, userId: string): Promise<void> {
  const [user] = await ctx.db.write
    .select({ firstName: users.firstName, lastName: users.lastName, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!user || user.deletedAt) return;
  await updateClerkUserNames(ctx.config, userId, user);
}
