import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import { settings, users, weeklyFeedbackMailings } from '../../db/schema';
import { emit, relayOrDefer, type PendingEvents } from '../../events/outbox';
import { withTransaction, type ServiceContext } from '../context';
import { weekOf } from './week';

const PAGE = 100;

/** `email.weeklyFeedback` of the settings document; default true when absent or not a boolean. */
const wantsWeeklyFeedback = sql`case when jsonb_typeof(${settings.settings}->'email'->'weeklyFeedback') = 'boolean'
  then (${settings.settings}->'email'->>'weeklyFeedback')::boolean else true end`;

/**
 * The weekly feedback mailing for the week of `now`. Pages through users who are active (not deleted,
 * not anonymised, with a real address) and opted in, 100 per transaction; each page records (user, week)
 * in weekly_feedback_mailings with ON CONFLICT DO NOTHING and emits one `feedback.weekly_requested` per
 * newly recorded user. The queue handler mints the code and sends the mail, one user per event, so one
 * bad address never stops the rest; a second run in the same week records nothing new and emits nothing.
 */
export async function scheduleWeeklyFeedback(ctx: ServiceContext, now: Date): Promise<{ eligible: number; emitted: number }> {
  const week = weekOf(now);
  let after = '';
  let eligible = 0;
  let emitted = 0;
  for (;;) {
    // Each page's events are relayed as soon as it commits, not when the whole run ends.
    const pending: PendingEvents = [];
    const page = await withTransaction({ ...ctx, events: pending }, async (tx, pageCtx) => {
      const rows = await tx
        .select({ id: users.id })
        .from(users)
        .leftJoin(settings, eq(settings.userId, users.id))
        .where(
          and(
            gt(users.id, after),
            isNull(users.deletedAt),
            isNull(users.anonymizedAt),
            sql`${users.email} !~* '@(users|anonymized)\\.invalid$'`,
            sql`${wantsWeeklyFeedback}`,
          ),
        )
        .orderBy(asc(users.id))
        .limit(PAGE);
      if (rows.length === 0) return rows;
      const fresh = await tx
        .insert(weeklyFeedbackMailings)
        .values(rows.map((r) => ({ userId: r.id, weekOf: week })))
        .onConflictDoNothing()
        .returning({ userId: weeklyFeedbackMailings.userId });
      for (const { userId } of fresh) await emit(tx, pageCtx.events, 'feedback.weekly_requested', { userId, weekOf: week });
      return rows;
    });
    eligible += page.length;
    emitted += pending.length;
    // Hand this page to the queue now. A page that cannot be relayed (a database blip) stays in the outbox
    // for the sweeper: the remaining users still get their events this week.
    await relayOrDefer(ctx.db, ctx.env, pending);
    if (page.length < PAGE) break;
    after = page.at(-1)!.id;
  }
  return { eligible, emitted };
}
