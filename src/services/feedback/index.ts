import { and, eq, isNull } from 'drizzle-orm';
import { feedback, settings } from '../../db/schema';
import { sha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext } from '../context';
import { activeRecipient } from '../email/recipients';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { resolveSettings } from '../settings/schema';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

export { scheduleWeeklyFeedback } from './weekly';

/** Weekly feedback codes: 24 random bytes, base64url (32 characters, 192 bits). */
export const FEEDBACK_CODE_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

function newFeedbackCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/**
 * Queue side of `feedback.weekly_requested` (the weekly job emits one per user per week): re-check the
 * opt-in, create a fresh anonymous single-use code and mail it. The code row commits with the handler's
 * processed mark, so a failed send leaves no orphan code and a redelivery sends nothing twice.
 */
export async function mailWeeklyFeedback(ctx: ServiceContext, input: { userId: string; idempotencyKey: string }): Promise<void> {
  const user = await activeRecipient(ctx, input.userId);
  if (!user) return;
  const [prefs] = await ctx.db.write.select({ settings: settings.settings }).from(settings).where(eq(settings.userId, input.userId));
  if (!resolveSettings(prefs?.settings).email.weeklyFeedback) return;
  const code = newFeedbackCode();
  await ctx.db.write.insert(feedback).values({ kind: 'weekly', code });
  const unsubscribeUrl = frontendUrl(ctx, FRONTEND_PAGES.settings);
  await sendEmail(ctx, {
    to: user.email,
    email: templates.feedbackRequest({ name: user.firstName, feedbackUrl: frontendUrl(ctx, FRONTEND_PAGES.feedback(code)), unsubscribeUrl }),
    // Per code: a delivery whose transaction failed after the send rolled its code back, so the next one mints
    // another and must mail it, not be taken by the provider for the first mail (whose link no longer works).
    idempotencyKey: `${input.idempotencyKey}:${(await sha256Hex(code)).slice(0, 16)}`,
    headers: { 'List-Unsubscribe': `<${unsubscribeUrl}>` },
  });
}

export interface GeneralFeedbackView {
  id: string;
  rating: number;
  message: string | null;
  createdAt: string;
}

/**
 * POST /feedback — a signed-in user's general feedback. Stored, never broadcast: no event, no
 * notification to anyone (free text from one user must never reach another).
 */
export async function submitGeneralFeedback(ctx: ServiceContext, input: { rating: number; message?: string }): Promise<GeneralFeedbackView> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'feedbackGeneral', LIMITS.feedbackGeneral, userId);
  const [row] = await ctx.db.write
    .insert(feedback)
    .values({ kind: 'general', userId, rating: input.rating, message: input.message || null })
    .returning();
  return { id: row!.id, rating: row!.rating!, message: row!.message, createdAt: row!.createdAt.toISOString() };
}

export interface FeedbackSlotView {
  code: string;
  used: boolean;
  createdAt: string;
  usedAt: string | null;
}

async function findWeeklySlot(ctx: ServiceContext, code: string, primary: boolean) {
  if (!FEEDBACK_CODE_PATTERN.test(code)) return null;
  const db = primary ? ctx.db.write : ctx.db.read;
  const [row] = await db
    .select({ id: feedback.id, code: feedback.code, usedAt: feedback.usedAt, createdAt: feedback.createdAt })
    .from(feedback)
    .where(and(eq(feedback.code, code), eq(feedback.kind, 'weekly')))
    .limit(1);
  return row ?? null;
}

/** GET /feedback/:code — public: whether the slot exists and is still open. Never returns what was submitted. */
export async function getFeedbackSlot(ctx: ServiceContext, code: string): Promise<FeedbackSlotView> {
  const row = await findWeeklySlot(ctx, code, false);
  if (!row) throw new AppError('NOT_FOUND', 'Feedback link not found');
  return { code, used: row.usedAt !== null, createdAt: row.createdAt.toISOString(), usedAt: row.usedAt?.toISOString() ?? null };
}

/**
 * POST /feedback/:code — public, single use. Unknown → 404; one attempt per code per 60 s (429,
 * Redis, fail-open: a cooldown, not the guarantee); the single-use rule is the conditional UPDATE
 * (`used_at is null`), so two concurrent submissions store exactly one and the other gets 409.
 */
export async function submitWeeklyFeedback(ctx: ServiceContext, input: { code: string; rating: number; message?: string }): Promise<FeedbackSlotView> {
  const { code } = input;
  const slot = await findWeeklySlot(ctx, code, true);
  if (!slot) throw new AppError('NOT_FOUND', 'Feedback link not found');
  await enforceLimit(ctx.config, 'feedbackCode', LIMITS.feedbackCode, code);
  const [updated] = await ctx.db.write
    .update(feedback)
    .set({ rating: input.rating, message: input.message || null, usedAt: new Date() })
    .where(and(eq(feedback.id, slot.id), isNull(feedback.usedAt)))
    .returning({ usedAt: feedback.usedAt, createdAt: feedback.createdAt });
  if (!updated) throw new AppError('CONFLICT', 'Feedback has already been submitted with this link');
  return { code, used: true, createdAt: updated.createdAt.toISOString(), usedAt: updated.usedAt!.toISOString() };
}
