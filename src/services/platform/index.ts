import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { platformInvites, users } from '../../db/schema';
import { emit } from '../../events/outbox';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext } from '../context';

/** An address invited by anyone within this many days is not invited again. */
export const PLATFORM_REINVITE_DAYS = 7;

/**
 * POST /platform/invite — a signed-in user invites an email address to FairArena (3 per hour per
 * user). No invite goes to an address that already has an account or was invited in the last 7 days;
 * the answer is the same in every case, so the endpoint cannot be used to find out who has an
 * account. The invite email is an event; the invitee is not subscribed to anything (only they may opt in).
 */
export async function invitePlatformUser(ctx: ServiceContext, input: { email: string }): Promise<{ accepted: true }> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'platformInvite', LIMITS.platformInvite, userId);
  const email = input.email.trim().toLowerCase();
  await ctx.db.write.transaction(async (tx) => {
    // One decision per address at a time, so concurrent invites cannot both send.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`platform-invite:${email}`}, 0))`);
    const [member] = await tx.select({ id: users.id }).from(users).where(and(eq(users.email, email), isNull(users.deletedAt))).limit(1);
    if (member) return;
    const since = new Date(Date.now() - PLATFORM_REINVITE_DAYS * 86_400_000);
    const [recent] = await tx
      .select({ id: platformInvites.id })
      .from(platformInvites)
      .where(and(eq(platformInvites.email, email), gt(platformInvites.createdAt, since)))
      .limit(1);
    if (recent) return;
    const [invite] = await tx.insert(platformInvites).values({ inviterId: userId, email }).returning({ id: platformInvites.id });
    await emit(tx, ctx.events, 'platform.invite_requested', { inviteId: invite!.id });
  });
  return { accepted: true };
}
