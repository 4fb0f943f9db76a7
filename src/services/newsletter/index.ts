import { and, eq, ne } from 'drizzle-orm';
import { newsletterSubscribers } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { withTransaction, type ServiceContext } from '../context';
import { enforceMailCap } from '../email/mail-cap';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { newsletterLink, normalizeEmail, verifyNewsletterToken, type NewsletterTokenPurpose } from './token';

/** A pending address is sent at most one confirmation email per this many hours. */
export const CONFIRMATION_RESEND_HOURS = 24;

export type NewsletterStatus = 'pending' | 'subscribed' | 'unsubscribed';

/** The signing secret, or 503 when the newsletter is not configured. */
function newsletterSecret(ctx: ServiceContext): string {
  if (!ctx.config.NEWSLETTER_TOKEN_SECRET) throw new AppError('SERVICE_UNAVAILABLE', 'The newsletter is not configured');
  return ctx.config.NEWSLETTER_TOKEN_SECRET;
}

const validToken = (ctx: ServiceContext, purpose: NewsletterTokenPurpose, email: string, token: string | undefined) =>
  verifyNewsletterToken({ secret: newsletterSecret(ctx), purpose, email, token });

/**
 * POST /newsletter/subscribe — double opt-in. Creates (or re-opens) a pending subscription and emails
 * a signed confirmation link. The answer is the same whatever the address's state (no enumeration);
 * an address already subscribed gets nothing, a pending one at most one email per 24 h, an
 * unsubscribed one starts over at pending. 1 request per hour per client IP.
 */
export async function subscribe(ctx: ServiceContext, input: { email: string; ip: string | null }): Promise<void> {
  newsletterSecret(ctx); // 503 before anything else when not configured
  await enforceMailCap(ctx, { name: 'newsletterSubscribe', spec: LIMITS.newsletterSubscribe, identifier: input.ip ?? 'unknown' });
  const email = normalizeEmail(input.email);
  await withTransaction(ctx, async (tx, ctx) => {
    const [created] = await tx
      .insert(newsletterSubscribers)
      .values({ email, status: 'pending' })
      .onConflictDoNothing({ target: newsletterSubscribers.email })
      .returning({ id: newsletterSubscribers.id });
    if (created) {
      await emit(tx, ctx.events, 'newsletter.confirmation_requested', { subscriberId: created.id });
      return;
    }
    const [row] = await tx.select().from(newsletterSubscribers).where(eq(newsletterSubscribers.email, email)).for('update');
    if (!row || row.status === 'subscribed') return;
    if (row.status === 'pending' && row.updatedAt.getTime() > Date.now() - CONFIRMATION_RESEND_HOURS * 3_600_000) return;
    await tx.update(newsletterSubscribers).set({ status: 'pending', confirmedAt: null, updatedAt: new Date() }).where(eq(newsletterSubscribers.id, row.id));
    await emit(tx, ctx.events, 'newsletter.confirmation_requested', { subscriberId: row.id });
  });
}

/** POST /newsletter/confirm — the link from the confirmation email: pending → subscribed (idempotent). */
export async function confirmSubscription(ctx: ServiceContext, input: { email: string; token?: string; ip: string | null }): Promise<{ status: NewsletterStatus }> {
  newsletterSecret(ctx);
  await enforceLimit(ctx.config, 'newsletterToken', LIMITS.newsletterToken, input.ip ?? 'unknown');
  const email = normalizeEmail(input.email);
  if (!(await validToken(ctx, 'confirm', email, input.token))) throw new AppError('FORBIDDEN', 'Invalid or missing token');
  const [confirmed] = await ctx.db.write
    .update(newsletterSubscribers)
    .set({ status: 'subscribed', confirmedAt: new Date() })
    .where(and(eq(newsletterSubscribers.email, email), eq(newsletterSubscribers.status, 'pending')))
    .returning({ id: newsletterSubscribers.id });
  if (confirmed) return { status: 'subscribed' };
  const [row] = await ctx.db.write.select({ status: newsletterSubscribers.status }).from(newsletterSubscribers).where(eq(newsletterSubscribers.email, email));
  if (row?.status === 'subscribed') return { status: 'subscribed' };
  throw new AppError('NOT_FOUND', 'No pending subscription for this address; subscribe again');
}

/**
 * POST /newsletter/unsubscribe — only with the signed token from one of our emails (403 otherwise,
 * saying nothing about the address). Idempotent; the same answer whether or not it was subscribed.
 */
export async function unsubscribe(ctx: ServiceContext, input: { email: string; token?: string; ip: string | null }): Promise<{ status: 'unsubscribed' }> {
  newsletterSecret(ctx);
  await enforceLimit(ctx.config, 'newsletterToken', LIMITS.newsletterToken, input.ip ?? 'unknown');
  const email = normalizeEmail(input.email);
  if (!(await validToken(ctx, 'unsubscribe', email, input.token))) throw new AppError('FORBIDDEN', 'Invalid or missing token');
  await ctx.db.write
    .update(newsletterSubscribers)
    .set({ status: 'unsubscribed', unsubscribedAt: new Date() })
    .where(and(eq(newsletterSubscribers.email, email), ne(newsletterSubscribers.status, 'unsubscribed')));
  return { status: 'unsubscribed' };
}

/**
 * Queue side of `newsletter.confirmation_requested`: mail the signed confirmation link, unless the address
 * was confirmed or unsubscribed meanwhile.
 */
export async function mailNewsletterConfirmation(ctx: ServiceContext, input: { subscriberId: string; idempotencyKey: string }): Promise<void> {
  const [row] = await ctx.db.write
    .select({ email: newsletterSubscribers.email, status: newsletterSubscribers.status })
    .from(newsletterSubscribers)
    .where(eq(newsletterSubscribers.id, input.subscriberId));
  if (!row || row.status !== 'pending') return; // confirmed or unsubscribed meanwhile
  const link = (purpose: NewsletterTokenPurpose) => newsletterLink({ secret: newsletterSecret(ctx), frontendUrl: ctx.config.FRONTEND_URL, purpose, email: row.email });
  await sendEmail(ctx, {
    to: row.email,
    email: templates.newsletterConfirm({ confirmUrl: await link('confirm'), unsubscribeUrl: await link('unsubscribe') }),
    idempotencyKey: input.idempotencyKey,
  });
}
