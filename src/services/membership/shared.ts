import { and, asc, count, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import { organizationMembers, organizationRoles, projectMembers, projectRoles, settings, teamMembers, teamRoles, users } from '../../db/schema';
import { cacheDel } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import { AppError } from '../../lib/errors';
import { enforceLimit, LIMITS } from '../../lib/rate-limit';
import type { ServiceContext } from '../context';
import { resolveSettings } from '../settings/schema';
import { ORG_OWNER_ROLE, PROJECT_OWNER_ROLE, TEAM_OWNER_ROLE } from './permissions';

/** Rate-limit buckets of this area (per user and kind of operation, see lib/rate-limit.ts); teams and projects share the organization buckets. */
export type OrgLimit = 'orgCreate' | 'orgUpdate' | 'orgDelete' | 'orgRead' | 'orgAudit';

/** The signed-in caller, after consuming one unit of their per-user limit for this kind of operation. */
export async function limitedCaller(ctx: ServiceContext, bucket: OrgLimit): Promise<string> {
  if (!ctx.userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  await enforceLimit(ctx.config, bucket, LIMITS[bucket], ctx.userId);
  return ctx.userId;
}

/** SQLSTATE and constraint of a database error (drizzle wraps the driver's error in `cause`). */
export function pgError(err: unknown): { code?: string; constraint?: string } | null {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return { code, constraint: (e as { constraint?: string }).constraint };
  }
  return null;
}

/** Turns a unique violation of one of `constraints` into 409 CONFLICT; rethrows anything else. */
export function conflictOn(err: unknown, constraints: Record<string, string>): never {
  const pg = pgError(err);
  if (pg?.code === '23505' && pg.constraint && constraints[pg.constraint]) throw new AppError('CONFLICT', constraints[pg.constraint]!);
  throw err;
}

export const iso = (d: Date): string => d.toISOString();
export const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function displayName(u: { firstName: string | null; lastName: string | null; username?: string | null }): string | null {
  return [u.firstName, u.lastName].filter(Boolean).join(' ') || u.username || null;
}

/** Ids of the (active) members of an organization — whose cached organization list a change affects. */
export async function orgMemberIds(tx: Transaction, orgId: string): Promise<string[]> {
  const rows = await tx
    .select({ userId: organizationMembers.userId })
    .from(organizationMembers)
    .innerJoin(users, and(eq(users.id, organizationMembers.userId), isNull(users.deletedAt)))
    .where(eq(organizationMembers.orgId, orgId));
  return rows.map((r) => r.userId);
}

/** Drop the cached organization lists of these users. Call after the transaction commits. */
export async function invalidateOrgLists(ctx: Pick<ServiceContext, 'config'>, userIds: Iterable<string>): Promise<void> {
  const keys = cacheKeys(ctx.config);
  const unique = [...new Set(userIds)];
  for (let i = 0; i < unique.length; i += 500) await cacheDel(ctx.config, ...unique.slice(i, i + 500).map((id) => keys.orgList(id)));
}

/** Paginate an in-memory list (lists filtered by the authorization functions). */
export function page<T>(items: T[], limit: number, offset: number): { items: T[]; total: number } {
  return { items: items.slice(offset, offset + limit), total: items.length };
}

/**
 * A member's email is personal data: a member list shows it to the member themself, to whoever manages
 * that scope's members, and otherwise only if the member opted in (settings privacy.showEmailToTeammates).
 */
export async function withVisibleEmails<T extends { userId: string; email: string | null }>(
  db: Database | Transaction,
  viewerId: string,
  viewerManagesMembers: boolean,
  members: T[],
): Promise<T[]> {
  if (viewerManagesMembers || members.length === 0) return members;
  const others = members.filter((m) => m.userId !== viewerId).map((m) => m.userId);
  const optedIn = new Set<string>();
  if (others.length) {
    const rows = await db.select({ userId: settings.userId, settings: settings.settings }).from(settings).where(inArray(settings.userId, others));
    for (const r of rows) if (resolveSettings(r.settings).privacy.showEmailToTeammates) optedIn.add(r.userId);
  }
  return members.map((m) => (m.userId === viewerId || optedIn.has(m.userId) ? m : { ...m, email: null }));
}

/** The member and role tables of each scope: alike but for the name of their scope column. */
const SCOPE_TABLES = {
  organization: { members: organizationMembers, roles: organizationRoles, scopeId: organizationMembers.orgId, roleScopeId: organizationRoles.orgId },
  team: { members: teamMembers, roles: teamRoles, scopeId: teamMembers.teamId, roleScopeId: teamRoles.teamId },
  project: { members: projectMembers, roles: projectRoles, scopeId: projectMembers.projectId, roleScopeId: projectRoles.projectId },
} as const;
export type Scope = keyof typeof SCOPE_TABLES;
/** Typed as the org tables to build one query for any scope (the columns used exist in all three). */
const tablesOf = (scope: Scope) => SCOPE_TABLES[scope] as unknown as (typeof SCOPE_TABLES)['organization'];

export interface ScopeMember {
  userId: string;
  name: string | null;
  /** Null unless the viewer may see it (see withVisibleEmails). */
  email: string | null;
  avatarUrl: string | null;
  role: { id: string; name: string };
  joinedAt: string;
}

/**
 * One page of an org's, team's or project's active members, oldest first, with each email shown only
 * where the viewer may see it. The caller has already authorized the read.
 */
export async function memberPage(
  db: Database,
  scope: Scope,
  scopeId: string,
  viewer: { userId: string; managesMembers: boolean },
  paging: { limit: number; offset: number },
): Promise<{ items: ScopeMember[]; total: number }> {
  const t = tablesOf(scope);
  const where = and(eq(t.scopeId, scopeId), isNull(users.deletedAt));
  const [rows, [total]] = await Promise.all([
    db
      .select({
        userId: users.id,
        email: users.email,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
        avatarUrl: users.imageUrl,
        roleId: t.roles.id,
        roleName: t.roles.name,
        joinedAt: t.members.joinedAt,
      })
      .from(t.members)
      .innerJoin(users, eq(users.id, t.members.userId))
      .innerJoin(t.roles, eq(t.roles.id, t.members.roleId))
      .where(where)
      .orderBy(asc(t.members.joinedAt), asc(t.members.id))
      .limit(paging.limit)
      .offset(paging.offset),
    db.select({ n: count() }).from(t.members).innerJoin(users, eq(users.id, t.members.userId)).where(where),
  ]);
  const items = rows.map((r) => ({ userId: r.userId, name: displayName(r), email: r.email, avatarUrl: r.avatarUrl, role: { id: r.roleId, name: r.roleName }, joinedAt: iso(r.joinedAt) }));
  return { total: total?.n ?? 0, items: await withVisibleEmails(db, viewer.userId, viewer.managesMembers, items) };
}

const OWNER_ROLES: Record<Scope, string> = { organization: ORG_OWNER_ROLE, team: TEAM_OWNER_ROLE, project: PROJECT_OWNER_ROLE };

/** Whether `role` is the scope's (default) Owner role, whose last holder must stay. */
export const isOwnerRole = (scope: Scope, role: { name: string; isDefault: boolean }): boolean => role.isDefault && role.name === OWNER_ROLES[scope];

/**
 * Owners of an org, team or project among active users (a deleted account cannot run it). Callers hold the
 * scope row's FOR UPDATE lock (authorize with `lock`), so two Owners stepping down at once cannot both pass.
 */
export async function ownerCount(tx: Transaction, scope: Scope, scopeId: string): Promise<number> {
  const t = tablesOf(scope);
  const [row] = await tx
    .select({ n: count() })
    .from(t.members)
    .innerJoin(t.roles, eq(t.roles.id, t.members.roleId))
    .innerJoin(users, and(eq(users.id, t.members.userId), isNull(users.deletedAt)))
    .where(and(eq(t.scopeId, scopeId), eq(t.roles.name, OWNER_ROLES[scope]), eq(t.roles.isDefault, true)));
  return row?.n ?? 0;
}

/** A member as member lists and role changes show it (the caller decides whether the email is visible). */
export function scopeMemberView(u: { id: string; email: string; firstName: string | null; lastName: string | null; username: string | null; imageUrl: string | null }, role: { id: string; name: string }, joinedAt: Date): ScopeMember {
  return { userId: u.id, name: displayName(u), email: u.email, avatarUrl: u.imageUrl, role: { id: role.id, name: role.name }, joinedAt: iso(joinedAt) };
}

export interface RoleView {
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
  isDefault: boolean;
}

/** The roles of an org, team or project, most powerful first. The caller has already authorized the read. */
export async function rolesOf(db: Database, scope: Scope, scopeId: string): Promise<RoleView[]> {
  const { roles, roleScopeId } = tablesOf(scope);
  const rows = await db.select().from(roles).where(eq(roleScopeId, scopeId)).orderBy(desc(sql`cardinality(${roles.permissions})`), asc(roles.name));
  return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, permissions: r.permissions, isDefault: r.isDefault }));
}
