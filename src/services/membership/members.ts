import { and, asc, count, desc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import { projectMembers, projects, settings, teamMembers, teams, users } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { resolveSettings } from '../settings/schema';
import { audit } from './audit';
import { invalidateOrgLists, limitedCaller } from './caller';
import { scopeMemberView, type Paging, type ScopeMember } from './format';
import { assertCanGrant } from './grants';
import { resolveRole, scopeMemberIds } from './queries';
import { authorizeScope } from './scope-access';
import { isOwnerRole, scope as describe, type Scope, type Target } from './scopes';

/*
 * Members and roles of an organization, team or project: one implementation for the three scopes.
 * Rules, the same everywhere: listing needs the scope's read permission; changing a role or removing
 * someone needs `<scope>:members:manage` and every permission of the member's current role and of the new
 * role (no escalation); anyone may leave; the last active Owner can neither be demoted, removed nor leave
 * (409), checked under the scope row's FOR UPDATE lock so two Owners stepping down at once cannot both pass.
 * A deleted account counts as no Owner: its membership can always be removed.
 * Leaving a scope drops the memberships below it (team and project memberships of an organization, project
 * memberships of a team).
 */

export type MemberView = ScopeMember;

export interface RoleView {
  id: string;
  name: string;
  description: string | null;
  permissions: string[];
  isDefault: boolean;
}

/** A member of the scope with their role and account; the membership row is locked FOR UPDATE. */
async function memberOf(ctx: ServiceContext, s: Scope, scopeId: string, userId: string, opts: { activeOnly: boolean }) {
  const d = describe(s);
  const [row] = await ctx.db.write
    .select({ memberId: d.members.id, joinedAt: d.members.joinedAt, role: d.roles, user: users })
    .from(d.members)
    .innerJoin(d.roles, eq(d.roles.id, d.members.roleId))
    .innerJoin(users, and(eq(users.id, d.members.userId), opts.activeOnly ? isNull(users.deletedAt) : undefined))
    .where(and(eq(d.memberScopeId, scopeId), eq(d.members.userId, userId)))
    .limit(1)
    .for('update', { of: d.members });
  if (!row) throw new AppError('NOT_FOUND', 'Member not found');
  return row;
}

/** Owners of the scope among active users (a deleted account cannot run it) other than `userId`. Callers hold the scope row's lock. */
async function otherActiveOwners(ctx: ServiceContext, s: Scope, scopeId: string, userId: string): Promise<number> {
  const d = describe(s);
  const [row] = await ctx.db.write
    .select({ n: count() })
    .from(d.members)
    .innerJoin(d.roles, eq(d.roles.id, d.members.roleId))
    .innerJoin(users, and(eq(users.id, d.members.userId), isNull(users.deletedAt)))
    .where(and(eq(d.memberScopeId, scopeId), eq(d.roles.name, d.ownerRole), eq(d.roles.isDefault, true), ne(d.members.userId, userId)));
  return row?.n ?? 0;
}

/** The scope must keep an active Owner: a deleted account's membership never counts, so losing it never trips this. */
async function assertNotLastOwner(ctx: ServiceContext, s: Scope, scopeId: string, member: { user: { id: string; deletedAt: Date | null }; role: { name: string; isDefault: boolean } }, what: string): Promise<void> {
  if (!isOwnerRole(s, member.role) || member.user.deletedAt) return;
  if ((await otherActiveOwners(ctx, s, scopeId, member.user.id)) === 0) {
    throw new AppError('CONFLICT', `The last Owner${describe(s).of} cannot ${what}: make another member Owner first`);
  }
}

/**
 * A member's email is personal data: a member list shows it to the member themself, to whoever manages
 * that scope's members, and otherwise only if the member opted in (settings privacy.showEmailToTeammates).
 */
async function withVisibleEmails<T extends { userId: string; email: string | null }>(ctx: ServiceContext, viewerId: string, viewerManagesMembers: boolean, members: T[]): Promise<T[]> {
  if (viewerManagesMembers || members.length === 0) return members;
  const others = members.filter((m) => m.userId !== viewerId).map((m) => m.userId);
  const optedIn = new Set<string>();
  if (others.length) {
    const rows = await ctx.db.write.select({ userId: settings.userId, settings: settings.settings }).from(settings).where(inArray(settings.userId, others));
    for (const r of rows) if (resolveSettings(r.settings).privacy.showEmailToTeammates) optedIn.add(r.userId);
  }
  return members.map((m) => (m.userId === viewerId || optedIn.has(m.userId) ? m : { ...m, email: null }));
}

/** GET …/members of an organization, team or project — whoever can read it; active members, oldest first. */
export async function listMembers(ctx: ServiceContext, input: { target: Target } & Paging): Promise<{ items: MemberView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const { d, id, can } = await authorizeScope(ctx, { target: input.target, permission: 'read' });
  const where = and(eq(d.memberScopeId, id), isNull(users.deletedAt));
  const db = ctx.db.write;
  const [rows, [total]] = await Promise.all([
    db
      .select({
        user: { id: users.id, email: users.email, firstName: users.firstName, lastName: users.lastName, username: users.username, imageUrl: users.imageUrl },
        roleId: d.roles.id,
        roleName: d.roles.name,
        joinedAt: d.members.joinedAt,
      })
      .from(d.members)
      .innerJoin(users, eq(users.id, d.members.userId))
      .innerJoin(d.roles, eq(d.roles.id, d.members.roleId))
      .where(where)
      .orderBy(asc(d.members.joinedAt), asc(d.members.id))
      .limit(input.limit)
      .offset(input.offset),
    db.select({ n: count() }).from(d.members).innerJoin(users, eq(users.id, d.members.userId)).where(where),
  ]);
  const items = rows.map((r) => scopeMemberView(r.user, { role: { id: r.roleId, name: r.roleName }, joinedAt: r.joinedAt }));
  return { total: total?.n ?? 0, items: await withVisibleEmails(ctx, userId, can(d.manage), items) };
}

/**
 * PATCH …/members/:userId — `<scope>:members:manage`. The caller must hold every permission of both the
 * member's current role and the new one (a Co-Owner cannot make or unmake an Owner); the last Owner cannot
 * be demoted (409).
 */
export async function changeRole(ctx: ServiceContext, input: { target: Target; userId: string; role: string }): Promise<MemberView> {
  await limitedCaller(ctx, 'orgUpdate');
  return withTransaction(ctx, async (_tx, ctx) => {
    const { scope: s, d, id, held, userId } = await authorizeScope(ctx, { target: input.target, permission: 'manage', lock: true });
    const member = await memberOf(ctx, s, id, input.userId, { activeOnly: true });
    const next = await resolveRole(ctx, { scope: s, scopeId: id, ref: input.role });
    assertCanGrant(held, { permissions: member.role.permissions, what: `change the role of a ${d.rolePrefix}${member.role.name}` });
    assertCanGrant(held, { permissions: next.permissions, what: `assign the ${d.rolePrefix}${next.name} role` });
    if (next.id !== member.role.id) {
      await assertNotLastOwner(ctx, s, id, member, 'be demoted');
      await ctx.db.write.update(d.members).set({ roleId: next.id }).where(eq(d.members.id, member.memberId));
      await audit(ctx, {
        scope: s,
        scopeId: id,
        actorId: userId,
        action: 'member.role_change',
        targetType: 'user',
        targetId: input.userId,
        changes: { before: { role: member.role.name }, after: { role: next.name } },
      });
      // Their organization list shows their org role.
      if (s === 'organization') ctx.afterCommit(() => invalidateOrgLists(ctx, [input.userId]));
    }
    return scopeMemberView(member.user, { role: next, joinedAt: member.joinedAt });
  });
}

/** The memberships below a scope that go with leaving it. */
async function removeBelow(ctx: ServiceContext, s: Scope, scopeId: string, userId: string): Promise<void> {
  const db = ctx.db.write;
  if (s === 'project') return;
  const scopeTeams = s === 'organization' ? db.select({ id: teams.id }).from(teams).where(eq(teams.orgId, scopeId)) : null;
  const scopeProjects = db
    .select({ id: projects.id })
    .from(projects)
    .where(scopeTeams ? inArray(projects.teamId, scopeTeams) : eq(projects.teamId, scopeId));
  await db.delete(projectMembers).where(and(eq(projectMembers.userId, userId), inArray(projectMembers.projectId, scopeProjects)));
  if (scopeTeams) await db.delete(teamMembers).where(and(eq(teamMembers.userId, userId), inArray(teamMembers.teamId, scopeTeams)));
}

async function remove(ctx: ServiceContext, target: Target, memberId: string): Promise<{ userId: string; removed: true }> {
  const callerId = await limitedCaller(ctx, 'orgUpdate');
  const self = memberId === callerId;
  await withTransaction(ctx, async (_tx, ctx) => {
    const { scope: s, d, id, held } = await authorizeScope(ctx, { target, permission: self ? 'read' : 'manage', lock: true });
    const member = await memberOf(ctx, s, id, memberId, { activeOnly: false });
    if (!self) assertCanGrant(held, { permissions: member.role.permissions, what: `remove a ${d.rolePrefix}${member.role.name}` });
    await assertNotLastOwner(ctx, s, id, member, self ? 'leave' : 'be removed');
    // Everyone's organization list shows the member count.
    const affected = s === 'organization' ? await scopeMemberIds(ctx, { scope: s, scopeId: id }) : [];
    await removeBelow(ctx, s, id, memberId);
    await ctx.db.write.delete(d.members).where(eq(d.members.id, member.memberId));
    await audit(ctx, {
      scope: s,
      scopeId: id,
      actorId: callerId,
      action: self ? 'member.leave' : 'member.remove',
      level: 'WARN',
      targetType: 'user',
      targetId: memberId,
      changes: { before: { role: member.role.name } },
    });
    if (affected.length) ctx.afterCommit(() => invalidateOrgLists(ctx, affected));
  });
  return { userId: memberId, removed: true };
}

/**
 * DELETE …/members/:userId — `<scope>:members:manage` (no removing a member whose role holds permissions
 * the caller lacks); the caller's own id is leaving.
 */
export function removeMember(ctx: ServiceContext, input: { target: Target; userId: string }): Promise<{ userId: string; removed: true }> {
  return remove(ctx, input.target, input.userId);
}

/** The caller leaves the organization, team or project (anyone but its last Owner). */
export async function leave(ctx: ServiceContext, target: Target): Promise<{ userId: string; removed: true }> {
  if (!ctx.userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  return remove(ctx, target, ctx.userId);
}

/**
 * A new organization, team or project: its default roles, and its creator as the Owner. Runs inside the
 * creating transaction; returns the roles (the Owner role as `owner`).
 */
export async function seedMembership(ctx: ServiceContext, input: { scope: Scope; scopeId: string; ownerId: string }) {
  const d = describe(input.scope);
  const db = ctx.db.write;
  const roles = await db
    .insert(d.roles)
    .values(d.defaultRoles.map((r) => ({ [d.scopeKey]: input.scopeId, name: r.name, description: r.description, permissions: [...r.permissions], isDefault: true }) as typeof d.roles.$inferInsert))
    .returning();
  const owner = roles.find((r) => isOwnerRole(input.scope, r))!;
  await db.insert(d.members).values({ [d.scopeKey]: input.scopeId, userId: input.ownerId, roleId: owner.id } as typeof d.members.$inferInsert);
  return { roles, owner };
}

/** GET …/roles — whoever can read the scope; most powerful first. */
export async function listRoles(ctx: ServiceContext, target: Target): Promise<RoleView[]> {
  await limitedCaller(ctx, 'orgRead');
  const { d, id } = await authorizeScope(ctx, { target, permission: 'read' });
  const rows = await ctx.db.write
    .select()
    .from(d.roles)
    .where(eq(d.roleScopeId, id))
    .orderBy(desc(sql`cardinality(${d.roles.permissions})`), asc(d.roles.name));
  return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, permissions: r.permissions, isDefault: r.isDefault }));
}
