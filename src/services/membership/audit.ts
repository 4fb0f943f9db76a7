import { count, desc, eq } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { organizationAuditLogs, projectAuditLogs, teamAuditLogs, users } from '../../db/schema';
import { logActivity } from '../activity';
import { displayName, iso } from './shared';

/**
 * Audit rows are written with the change, in the same transaction (a failed insert rolls the change
 * back), and the tables are append-only (DB triggers). `action` is `entity.verb`; `changes` holds
 * `{ before, after }` of the changed fields only, or free-form details (ids, names, emails — never an
 * invite code or any other secret).
 */
export type AuditScope = 'organization' | 'team' | 'project';

export interface AuditEntry {
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  level?: 'INFO' | 'WARN' | 'CRITICAL';
  changes?: Record<string, unknown>;
}

export async function audit(tx: Transaction, scope: AuditScope, scopeId: string, entry: AuditEntry): Promise<void> {
  const row = {
    actorId: entry.actorId,
    action: entry.action,
    targetType: entry.targetType ?? scope,
    targetId: entry.targetId ?? scopeId,
    level: entry.level ?? 'INFO',
    changes: entry.changes ?? null,
  };
  if (scope === 'organization') await tx.insert(organizationAuditLogs).values({ orgId: scopeId, ...row });
  else if (scope === 'team') await tx.insert(teamAuditLogs).values({ teamId: scopeId, ...row });
  else await tx.insert(projectAuditLogs).values({ projectId: scopeId, ...row });
  // A change to someone's membership (join, role change, removal) is also in *their* activity log.
  if (entry.targetType === 'user' && entry.targetId && MEMBERSHIP_ACTION.test(entry.action)) {
    await logActivity(tx, {
      userId: entry.targetId,
      action: `membership.${entry.action}`,
      level: entry.level ?? 'INFO',
      metadata: { scope, scopeId, ...(entry.changes && 'after' in entry.changes ? { after: entry.changes.after } : {}), byThemselves: entry.actorId === entry.targetId },
    });
  }
}

const MEMBERSHIP_ACTION = /^(member\.|invite\.accept$)/;

/** `{ before, after }` restricted to the fields whose value changes, or null when nothing changes. */
export function diff<T extends Record<string, unknown>>(current: T, patch: Partial<T>): { before: Partial<T>; after: Partial<T> } | null {
  const before: Partial<T> = {};
  const after: Partial<T> = {};
  for (const key of Object.keys(patch) as (keyof T)[]) {
    const next = patch[key];
    if (next === undefined) continue;
    const prev = current[key];
    const same = prev instanceof Date || next instanceof Date ? String(prev) === String(next) : prev === next;
    if (same) continue;
    before[key] = (prev ?? null) as T[keyof T];
    after[key] = (next ?? null) as T[keyof T];
  }
  return Object.keys(after).length ? { before, after } : null;
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

/** One page of a scope's audit log, newest first. */
export async function readAuditLog(db: Database, scope: AuditScope, scopeId: string, limit: number, offset: number): Promise<{ items: AuditLogView[]; total: number }> {
  const table = scope === 'organization' ? organizationAuditLogs : scope === 'team' ? teamAuditLogs : projectAuditLogs;
  const scopeColumn = scope === 'organization' ? organizationAuditLogs.orgId : scope === 'team' ? teamAuditLogs.teamId : projectAuditLogs.projectId;
  const [rows, [total]] = await Promise.all([
    db
      .select({
        id: table.id,
        action: table.action,
        level: table.level,
        actorId: table.actorId,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
        targetType: table.targetType,
        targetId: table.targetId,
        changes: table.changes,
        createdAt: table.createdAt,
      })
      .from(table)
      .leftJoin(users, eq(users.id, table.actorId))
      .where(eq(scopeColumn, scopeId))
      .orderBy(desc(table.createdAt), desc(table.id))
      .limit(limit)
      .offset(offset),
    db.select({ n: count() }).from(table).where(eq(scopeColumn, scopeId)),
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
