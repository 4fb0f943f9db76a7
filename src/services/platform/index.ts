import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { platformInvites, users } from '../../db/schema';
import { emit } from '../../events/outbox';
import { LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { enforceMailCap } from '../email/mail-cap';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

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
  await enforceMailCap(ctx, { name: 'platformInvite', spec: LIMITS.platformInvite, identifier: userId });
  const email = input.email.trim().toLowerCase();
  await withTransaction(ctx, async (tx, ctx) => {
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

/** Queue side of `platform.invite_requested`: mail the invitation, unless the address signed up meanwhile. */
export async function mailPlatformInvite(ctx: ServiceContext, input: { inviteId: string; idempotencyKey: string }): Promise<void> {
  const db = ctx.db.write;
  const [invite] = await db
    .select({ email: platformInvites.email, firstName: users.firstName, lastName: users.lastName, username: users.username })
    .from(platformInvites)
    .innerJoin(users, eq(users.id, platformInvites.inviterId))
    .where(eq(platformInvites.id, input.inviteId));
  if (!invite) return;
  const [member] = await db.select({ id: users.id }).from(users).where(and(eq(users.email, invite.email), isNull(users.deletedAt))).limit(1);
  if (member) return; // signed up in the meantime
  const inviterName = [invite.firstName, invite.lastName].filter(Boolean).join(' ') || invite.username || null;
  await sendEmail(ctx, {
    to: invite.email,
    email: templates.platformInvite({ inviterName, signUpUrl: frontendUrl(ctx, FRONTEND_PAGES.signUp) }),
    idempotencyKey: input.idempotencyKey,
  });
}
