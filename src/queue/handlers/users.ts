import { eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import { updateClerkUserNames } from '../../integrations/clerk';
import { sendEmail } from '../../services/email/send';
import { templates } from '../../services/email/templates';
import { createNotification } from '../../services/notifications/create';
import { ACCOUNT_RETENTION_DAYS } from '../../services/users';
import type { EventHandler, HandlerContext } from '../types';

async function recipient(ctx: HandlerContext, userId: string) {
  const [user] = await ctx.tx
    .select({ email: users.email, firstName: users.firstName, deletedAt: users.deletedAt, anonymizedAt: users.anonymizedAt })
    .from(users)
    .where(eq(users.id, userId));
  return user;
}

export const welcomeEmail: EventHandler<'user.created'> = {
  name: 'welcome-email',
  async run(ctx, { userId }) {
    const user = await recipient(ctx, userId);
    if (!user || user.deletedAt) return;
    await sendEmail(ctx, {
      to: user.email,
      email: templates.welcome({ name: user.firstName, appUrl: ctx.config.FRONTEND_URL }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const welcomeNotification: EventHandler<'user.created'> = {
  name: 'welcome-notification',
  async run(ctx, { userId }) {
    await createNotification(ctx, {
      userId,
      type: 'SYSTEM',
      title: 'Welcome to FairArena',
      message: 'Your account is ready. Complete your profile to get started.',
      actionUrl: `${ctx.config.FRONTEND_URL}/profile`,
      actionLabel: 'Complete profile',
    });
  },
};

export const accountDeletedEmail: EventHandler<'user.deleted'> = {
  name: 'account-deleted-email',
  async run(ctx, { userId }) {
    const user = await recipient(ctx, userId);
    if (!user || user.anonymizedAt) return;
    await sendEmail(ctx, {
      to: user.email,
      email: templates.accountDeleted({ name: user.firstName, retentionDays: ACCOUNT_RETENTION_DAYS }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const accountRecoveredEmail: EventHandler<'user.recovered'> = {
  name: 'account-recovered-email',
  async run(ctx, { userId }) {
    const user = await recipient(ctx, userId);
    if (!user || user.deletedAt) return;
    await sendEmail(ctx, {
      to: user.email,
      email: templates.accountRecovered({ name: user.firstName, appUrl: ctx.config.FRONTEND_URL }),
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

/** Reads the names at delivery time, so a burst of edits converges on the latest one. */
export const pushNamesToClerk: EventHandler<'user.name_changed'> = {
  name: 'clerk-name-sync',
  async run(ctx, { userId }) {
    const [user] = await ctx.tx.select({ firstName: users.firstName, lastName: users.lastName, deletedAt: users.deletedAt }).from(users).where(eq(users.id, userId));
    if (!user || user.deletedAt) return;
    await updateClerkUserNames(ctx.config, userId, user);
  },
};

export const accountRecoveredNotification: EventHandler<'user.recovered'> = {
  name: 'account-recovered-notification',
  async run(ctx, { userId }) {
    await createNotification(ctx, {
      userId,
      type: 'SYSTEM',
      title: 'Welcome back',
      message: 'Your previous account has been recovered.',
    });
  },
};
