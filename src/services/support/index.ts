import { and, count, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import { supportTickets, type SupportTicket } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { ipBucket } from '../../lib/http';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { enforceMailCap } from '../email/mail-cap';
import { activeRecipient } from '../email/recipients';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { createNotification } from '../notifications/create';
import { ensureActiveUser } from '../users';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

/** An anonymous requester gets at most one confirmation email per address in this window. */
export const ANONYMOUS_CONFIRMATION_WINDOW_HOURS = 24;

export type SupportType = SupportTicket['type'];
export type SupportSeverity = SupportTicket['severity'];

export interface CreateSupportInput {
  subject: string;
  message: string;
  /** Required when anonymous; ignored for a signed-in caller (the confirmation goes to the account address). */
  email?: string;
  type?: SupportType;
  severity?: SupportSeverity;
  /** CF-Connecting-IP of the request (anonymous limit, counted per `ipBucket`: an IPv6 /64 is one client). */
  ip: string | null;
}

export interface SupportTicketView {
  id: string;
  subject: string;
  message: string;
  type: SupportType;
  severity: SupportSeverity;
  status: SupportTicket['status'];
  createdAt: string;
  updatedAt: string;
}

const view = (t: SupportTicket): SupportTicketView => ({
  id: t.id,
  subject: t.subject,
  message: t.message,
  type: t.type,
  severity: t.severity,
  status: t.status,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

/**
 * POST /support — signed in (3/h per user) or anonymous with an email (1/h per client IP; per /64 for IPv6). The ticket
 * row is written here, synchronously, and its real id returned. The confirmation email is an event:
 * for an anonymous ticket it is sent only if no other anonymous ticket named the same address in the
 * last 24 h (so the form cannot be used to mail-bomb a third party); the ticket is stored either way.
 */
export async function createSupportTicket(ctx: ServiceContext, input: CreateSupportInput): Promise<SupportTicketView> {
  const userId = ctx.userId;
  if (userId) {
    await ensureActiveUser(ctx, userId);
    await enforceLimit(ctx.config, 'supportUser', LIMITS.supportUser, userId);
  } else {
    if (!input.email) {
      throw new AppError('VALIDATION_ERROR', 'An email address is required when not signed in', {
        details: { target: 'json', issues: [{ path: 'email', message: 'required when not signed in' }] },
      });
    }
    await enforceMailCap(ctx, { name: 'supportAnonymous', spec: LIMITS.supportAnonymous, identifier: ipBucket(input.ip) ?? 'unknown' });
  }
  const email = userId ? null : input.email!.trim().toLowerCase();
  return withTransaction(ctx, async (tx, ctx) => {
    let sendConfirmation = true;
    if (email) {
      // Serialise tickets for one address so two concurrent requests cannot both mail it.
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`support:${email}`}, 0))`);
      const since = new Date(Date.now() - ANONYMOUS_CONFIRMATION_WINDOW_HOURS * 3_600_000);
      const [recent] = await tx
        .select({ id: supportTickets.id })
        .from(supportTickets)
        .where(and(isNull(supportTickets.userId), eq(supportTickets.email, email), gt(supportTickets.createdAt, since)))
        .limit(1);
      sendConfirmation = !recent;
    }
    const [ticket] = await tx
      .insert(supportTickets)
      .values({
        userId: userId ?? null,
        email,
        subject: input.subject,
        message: input.message,
        ...(input.type ? { type: input.type } : {}),
        ...(input.severity ? { severity: input.severity } : {}),
      })
      .returning();
    await emit(tx, ctx.events, 'support.ticket_created', { ticketId: ticket!.id, sendConfirmation });
    return view(ticket!);
  });
}

/** GET /support — the caller's own tickets, newest first. */
export async function listSupportTickets(ctx: ServiceContext, page: { limit: number; offset: number }): Promise<{ items: SupportTicketView[]; total: number }> {
  const userId = requireCaller(ctx);
  const where = eq(supportTickets.userId, userId);
  const [rows, [totals]] = await Promise.all([
    ctx.db.read.select().from(supportTickets).where(where).orderBy(desc(supportTickets.createdAt), desc(supportTickets.id)).limit(page.limit).offset(page.offset),
    ctx.db.read.select({ total: count() }).from(supportTickets).where(where),
  ]);
  return { items: rows.map(view), total: totals?.total ?? 0 };
}

/**
 * Queue side of `support.ticket_created`: the confirmation mail. A signed-in requester's goes to their
 * account address (if still active); an anonymous one only when the ticket was the first naming its address
 * in the window (decided at creation), and relays nothing the requester wrote (the address may be anyone's).
 */
export async function mailSupportConfirmation(ctx: ServiceContext, input: { ticketId: string; sendConfirmation?: boolean; idempotencyKey: string }): Promise<void> {
  const [ticket] = await ctx.db.write.select().from(supportTickets).where(eq(supportTickets.id, input.ticketId));
  if (!ticket) return;
  if (ticket.userId) {
    const user = await activeRecipient(ctx, ticket.userId);
    if (!user) return;
    const supportUrl = frontendUrl(ctx, FRONTEND_PAGES.supportInbox); // "View my requests"
    const email = templates.supportConfirmation({ anonymous: false, name: user.firstName, subject: ticket.subject, ticketId: ticket.id, supportUrl });
    await sendEmail(ctx, { to: user.email, email, idempotencyKey: input.idempotencyKey });
    return;
  }
  if (!input.sendConfirmation || !ticket.email) return;
  const email = templates.supportConfirmation({ anonymous: true, ticketId: ticket.id, supportUrl: frontendUrl(ctx, FRONTEND_PAGES.support) });
  await sendEmail(ctx, { to: ticket.email, email, idempotencyKey: input.idempotencyKey });
}

/** Queue side of `support.ticket_created`: an in-app notification for a signed-in requester. */
export async function notifySupportTicket(ctx: ServiceContext, ticketId: string): Promise<void> {
  const [ticket] = await ctx.db.write.select({ userId: supportTickets.userId, id: supportTickets.id }).from(supportTickets).where(eq(supportTickets.id, ticketId));
  if (!ticket?.userId) return;
  await createNotification(ctx, {
    userId: ticket.userId,
    type: 'SYSTEM',
    title: 'Support request received',
    message: 'We received your support request and will get back to you.',
    actionUrl: frontendUrl(ctx, FRONTEND_PAGES.supportInbox),
    actionLabel: 'View my requests',
    metadata: { ticketId: ticket.id },
  });
}
