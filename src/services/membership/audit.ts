import { count, desc, eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import { logActivity } from '../activity';
import type { ServiceContext } from '../context';
import { authorize, type OrgTarget, type TeamTarget } from './authz';
import { displayName, iso, type Paging } from './format';
import { limitedCaller } from './caller';
import { scope as describe, scopeOf, type Scope } from './scopes';

/**
 * Audit rows are written with the change, in the same transaction (a failed insert rolls the change
 * back), and the tables are append-only (DB triggers). `action` is `entity.verb`; `changes` holds
 * `{ before, after }` of the changed fields only, or free-form details (ids, names, emails — never an
 * invite code or any other secret).
 */
export interface AuditEntry {
  scope: Scope;
  scopeId: string;
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  level?: 'INFO' | 'WARN' | 'CRITICAL';
  changes?: Record<string, unknown>;
}

const MEMBERSHIP_ACTION = /^(member\.|invite\.accept$)/;

/**
 * The one writer of audit rows, for every scope; returns the new rows' ids in order. Runs inside the
 * caller's transaction (`withTransaction`): an audit row never commits without its change. A change to
 * someone's membership (join, role change, removal) also goes into *their* activity log.
 */
export async function audit(ctx: ServiceContext, entries: AuditEntry | readonly AuditEntry[]): Promise<string[]> {
  const tx = ctx.db.tx;
  if (!tx) throw new Error('audit() runs inside the transaction of the change it records');
  const list = Array.isArray(entries) ? entries : [entries as AuditEntry];
  const ids: string[] = [];
  for (const s of new Set(list.map((e) => e.scope))) {
    const d = describe(s);
    const rows = list
      .filter((e) => e.scope === s)
      .map((e) => ({
        [d.scopeKey]: e.scopeId,
        actorId: e.actorId,
        action: e.action,
        targetType: e.targetType ?? s,
        targetId: e.targetId ?? e.scopeId,
        level: e.level ?? 'INFO',
        changes: e.changes ?? null,
      })) as (typeof d.auditLogs.$inferInsert)[];
    ids.push(...(await tx.insert(d.auditLogs).values(rows).returning({ id: d.auditLogs.id })).map((r) => r.id));
  }
  for (const e of list) {
    if (e.targetType !== 'user' || !e.targetId || !MEMBERSHIP_ACTION.test(e.action)) continue;
    await logActivity(ctx, {
      userId: e.targetId,
      action: `membership.${e.action}`,
      level: e.level ?? 'INFO',
      metadata: { scope: e.scope, scopeId: e.scopeId, ...(e.changes && 'after' in e.changes ? { after: e.changes.after } : {}), byThemselves: e.actorId === e.targetId },
    });
  }
  return ids;
}

export interface AuditLogView {
  id: string;
  action: string;
  level: 'INFO' | 'WARN' | 'CRITICAL';
  actor: { id: string; name: string | null } | null;
  targetType: string | null;
  targetId: string | null;
  changes: Record<string, unknown> | null;
  createdAt: string;
}

/** One page of a scope's audit log, newest first. The caller has already authorized the read. */
export async function readAuditLog(ctx: ServiceContext, input: { scope: Scope; scopeId: string } & Paging): Promise<{ items: AuditLogView[]; total: number }> {
  const { auditLogs: t, auditScopeId } = describe(input.scope);
  const db = ctx.db.write;
  const [rows, [total]] = await Promise.all([
    db
      .select({
        id: t.id,
        action: t.action,
        level: t.level,
        actorId: t.actorId,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
        targetType: t.targetType,
        targetId: t.targetId,
        changes: t.changes,
        createdAt: t.createdAt,
      })
      .from(t)
      .leftJoin(users, eq(users.id, t.actorId))
      .where(eq(auditScopeId, input.scopeId))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(input.limit)
      .offset(input.offset),
    db.select({ n: count() }).from(t).where(eq(auditScopeId, input.scopeId)),
  ]);
  return {
    total: total?.n ?? 0,
    items: rows.map((r) => ({
      id: r.id,
      action: r.action,
      level: r.level,
      actor: r.actorId ? { id: r.actorId, name: displayName(r) } : null,
      targetType: r.targetType,
      targetId: r.targetId,
      changes: r.changes ?? null,
      createdAt: iso(r.createdAt),
    })),
  };
}

/**
 * GET /organization/:orgId/audit — `org:audit:read` (Owner, Co-Owner); GET /team/:teamId/audit —
 * `team:audit:read` (team Owner/Admin, org Owner/Co-Owner). Newest first.
 */
export async function listAuditLog(ctx: ServiceContext, input: { target: OrgTarget | TeamTarget } & Paging): Promise<{ items: AuditLogView[]; total: number }> {
  await limitedCaller(ctx, 'orgAudit');
  const { target } = input;
  const s = scopeOf(target);
  const scopeId = 'team' in target
    ? (await authorize(ctx, { target, permission: 'team:audit:read' })).team.id
    : (await authorize(ctx, { target, permission: 'org:audit:read' })).org.id;
  return readAuditLog(ctx, { scope: s, scopeId, limit: input.limit, offset: input.offset });
}
