import { eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import { describeError, log } from '../../lib/log';
import { logActivity } from '../../services/activity';
import { sendEmail } from '../../services/email/send';
import { templates } from '../../services/email/templates';
import { buildDataExport, toBase64 } from '../../services/export';
import { createNotification } from '../../services/notifications/create';
import { FREE_CREDITS } from '../../services/phone/free-credits';
import { maskPhone } from '../../services/phone/strict';
import type { EventHandler, HandlerContext } from '../types';

async function account(ctx: HandlerContext, userId: string) {
  const [user] = await ctx.tx
    .select({ email: users.email, firstName: users.firstName, phoneNumber: users.phoneNumber, phoneVerifiedAt: users.phoneVerifiedAt, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, userId));
  return user && !user.deletedAt ? user : null;
}

const creditsUrl = (ctx: HandlerContext) => `${ctx.config.FRONTEND_URL}/credits`;

// ───────────────────────────── phone verified ─────────────────────────────

export const phoneVerifiedEmail: EventHandler<'phone.verified'> = {
  name: 'phone-verified-email',
  async run(ctx, { userId }) {
    const user = await account(ctx, userId);
    if (!user?.phoneVerifiedAt || !user.phoneNumber) return;
    await sendEmail(
      { db: ctx.tx, config: ctx.config },
      user.email,
      templates.phoneVerified({ name: user.firstName, phone: maskPhone(user.phoneNumber), creditsUrl: creditsUrl(ctx) }),
      { idempotencyKey: ctx.idempotencyKey },
    );
  },
};

export const phoneVerifiedNotification: EventHandler<'phone.verified'> = {
  name: 'phone-verified-notification',
  async run(ctx, { userId }) {
    const user = await account(ctx, userId);
    if (!user?.phoneVerifiedAt) return;
    await createNotification(ctx, {
      userId,
      type: 'SYSTEM',
      title: 'Phone number verified',
      message: 'Your phone number is verified. You can now claim your free credits.',
      actionUrl: creditsUrl(ctx),
      actionLabel: 'Claim credits',
    });
  },
};

// ───────────────────────────── free credits ─────────────────────────────

export const freeCreditsEmail: EventHandler<'credits.free_claimed'> = {
  name: 'free-credits-email',
  async run(ctx, { userId }) {
    const user = await account(ctx, userId);
    if (!user) return;
    await sendEmail({ db: ctx.tx, config: ctx.config }, user.email, templates.freeCreditsClaimed({ name: user.firstName, amount: FREE_CREDITS, creditsUrl: creditsUrl(ctx) }), {
      idempotencyKey: ctx.idempotencyKey,
    });
  },
};

export const freeCreditsNotification: EventHandler<'credits.free_claimed'> = {
  name: 'free-credits-notification',
  async run(ctx, { userId, transactionId }) {
    await createNotification(ctx, {
      userId,
      type: 'SYSTEM',
      title: 'Welcome bonus credits',
      message: `${FREE_CREDITS} free credits have been added to your account.`,
      actionUrl: creditsUrl(ctx),
      actionLabel: 'View credits',
      metadata: { transactionId },
    });
  },
};

// ───────────────────────────── data export ─────────────────────────────

/**
 * Build the user's export (their own rows only, services/export) and email it as a JSON attachment.
 * The build and the send run in a savepoint: if either fails, the savepoint rolls back, the user gets
 * the failure email, the failure is logged in their activity log, and the event is done (no retry
 * storm of half-built exports). Only if the failure email itself cannot be sent does the handler throw,
 * so the queue retries the whole export later.
 */
export const dataExport: EventHandler<'account.export_requested'> = {
  name: 'data-export',
  async run(ctx, { userId }) {
    const user = await account(ctx, userId);
    if (!user) return;
    const generatedAt = new Date();
    const filename = `fairarena-data-export-${generatedAt.toISOString().slice(0, 10)}.json`;
    try {
      const bytes = await ctx.tx.transaction(async (sp) => {
        const data = await buildDataExport({ ...ctx, db: { read: sp, write: sp, tx: sp } }, { userId, now: generatedAt });
        const json = JSON.stringify(data, null, 2);
        await sendEmail(
          { db: sp, config: ctx.config },
          user.email,
          templates.dataExportReady({ name: user.firstName, generatedAt: generatedAt.toUTCString(), filename }),
          { idempotencyKey: ctx.idempotencyKey, attachments: [{ filename, content: toBase64(json), contentType: 'application/json' }] },
        );
        return json.length;
      });
      await logActivity(ctx.tx, { userId, action: 'export.completed', level: 'INFO', metadata: { bytes, eventId: ctx.event.id } });
    } catch (err) {
      log('warn', 'export.failed', { eventId: ctx.event.id, error: describeError(err) });
      await sendEmail({ db: ctx.tx, config: ctx.config }, user.email, templates.dataExportFailed({ name: user.firstName }), {
        idempotencyKey: `${ctx.idempotencyKey}:failed`,
      });
      await logActivity(ctx.tx, { userId, action: 'export.failed', level: 'WARN', metadata: { eventId: ctx.event.id } });
    }
  },
};
