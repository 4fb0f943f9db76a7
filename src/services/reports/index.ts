import { and, count, desc, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../db/client';
import { organizations, profiles, projects, reports, teams, users, type Report } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { activeRecipient } from '../email/recipients';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';

/** Reasons a report may give (what the moderation queue sorts by). */
export const REPORT_REASONS = ['spam', 'harassment', 'inappropriate', 'fake', 'privacy', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];
export type ReportEntityType = Report['entityType'];

export interface CreateReportInput {
  entityType: ReportEntityType;
  /** profiles.id for a profile; organizations.id / teams.id / projects.id otherwise. */
  entityId: string;
  reason: ReportReason;
  details?: string;
}

export interface ReportView {
  id: string;
  entityType: ReportEntityType;
  entityId: string;
  reason: string;
  details: string | null;
  status: Report['state'];
  createdAt: string;
  updatedAt: string;
}

const view = (r: Report): ReportView => ({
  id: r.id,
  entityType: r.entityType,
  entityId: r.entityId,
  reason: r.reason,
  details: r.details,
  status: r.state,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

/** Whether the reported entity exists and is live (soft-deleted entities, or those of deleted users, count as missing). */
async function entityExists(db: Database, type: ReportEntityType, id: string): Promise<boolean> {
  let rows: unknown[];
  switch (type) {
    case 'profile':
      rows = await db
        .select({ id: profiles.id })
        .from(profiles)
        .innerJoin(users, and(eq(users.id, profiles.userId), isNull(users.deletedAt)))
        .where(eq(profiles.id, id))
        .limit(1);
      break;
    case 'organization':
      rows = await db.select({ id: organizations.id }).from(organizations).where(and(eq(organizations.id, id), isNull(organizations.deletedAt))).limit(1);
      break;
    case 'team':
      rows = await db
        .select({ id: teams.id })
        .from(teams)
        .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
        .where(and(eq(teams.id, id), isNull(teams.deletedAt)))
        .limit(1);
      break;
    case 'project':
      rows = await db
        .select({ id: projects.id })
        .from(projects)
        .innerJoin(teams, and(eq(teams.id, projects.teamId), isNull(teams.deletedAt)))
        .where(and(eq(projects.id, id), isNull(projects.deletedAt)))
        .limit(1);
      break;
  }
  return rows.length > 0;
}

function isOpenReportConflict(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, constraint } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505' && constraint === 'reports_one_open_per_reporter_entity_uq') return true;
  }
  return false;
}

/**
 * POST /reports — stored synchronously (the caller is told it is received only once it is) with the
 * caller's users.id, the one user key, as reporter. The entity must exist (404); one open report per
 * reporter per entity is a partial unique index (409). A "report received" email follows as an event.
 */
export async function createReport(ctx: ServiceContext, input: CreateReportInput): Promise<ReportView> {
  const userId = requireCaller(ctx);
  await enforceLimit(ctx.config, 'reports', LIMITS.reports, userId);
  if (!(await entityExists(ctx.db.write, input.entityType, input.entityId))) {
    throw new AppError('NOT_FOUND', `No such ${input.entityType}`);
  }
  try {
    return await withTransaction(ctx, async (tx, ctx) => {
      const [row] = await tx
        .insert(reports)
        .values({ reporterId: userId, entityType: input.entityType, entityId: input.entityId, reason: input.reason, details: input.details ?? null })
        .returning();
      await emit(tx, ctx.events, 'report.created', { reportId: row!.id });
      return view(row!);
    });
  } catch (err) {
    if (isOpenReportConflict(err)) throw new AppError('CONFLICT', 'You have already reported this and it is under review');
    throw err;
  }
}

/** GET /reports — the caller's own reports, newest first. */
export async function listReports(ctx: ServiceContext, page: { limit: number; offset: number }): Promise<{ items: ReportView[]; total: number }> {
  const userId = requireCaller(ctx);
  const where = eq(reports.reporterId, userId);
  const [rows, [totals]] = await Promise.all([
    ctx.db.read.select().from(reports).where(where).orderBy(desc(reports.createdAt), desc(reports.id)).limit(page.limit).offset(page.offset),
    ctx.db.read.select({ total: count() }).from(reports).where(where),
  ]);
  return { items: rows.map(view), total: totals?.total ?? 0 };
}

/** Queue side of `report.created`: tell the reporter (if still active) that the report was received. */
export async function mailReportReceived(ctx: ServiceContext, input: { reportId: string; idempotencyKey: string }): Promise<void> {
  const [report] = await ctx.db.write
    .select({ id: reports.id, reporterId: reports.reporterId, entityType: reports.entityType })
    .from(reports)
    .where(eq(reports.id, input.reportId));
  if (!report) return;
  const user = await activeRecipient(ctx, report.reporterId);
  if (!user) return;
  await sendEmail(ctx, {
    to: user.email,
    email: templates.reportReceived({ name: user.firstName, reportId: report.id, entityType: report.entityType }),
    idempotencyKey: input.idempotencyKey,
  });
}
