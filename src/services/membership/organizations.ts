import { and, asc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
import {
  organizationMembers,
  organizationRoles,
  organizations,
  projectMembers,
  projects,
  teamMembers,
  teamRoles,
  teams,
  users,
  type Organization,
} from '../../db/schema';
import { cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import type { OrganizationView } from '../../lib/cached-views';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { audit, diff, readAuditLog, type AuditLogView } from './audit';
import { assertCanGrant, authorize, isUuid, teamPermissions, type RoleRef } from './authz';
import { DEFAULT_ORG_ROLES } from './permissions';
import { conflictOn, displayName, invalidateOrgLists, iso, isOwnerRole, limitedCaller, memberPage, orgMemberIds, ownerCount, page, rolesOf, type RoleView, type ScopeMember } from './shared';

export type { OrganizationView } from '../../lib/cached-views';

export type { RoleView } from './shared';

/** A member as member lists and role changes show it. */
export type MemberView = ScopeMember;

export interface OrganizationProfileInput {
  description?: string | null;
  website?: string | null;
  logoUrl?: string | null;
  location?: string | null;
  timezone?: string | null;
  isPublic?: boolean;
  joinEnabled?: boolean;
}

export interface CreateOrganizationInput extends OrganizationProfileInput {
  name: string;
  slug: string;
}

export interface UpdateOrganizationInput extends OrganizationProfileInput {
  name?: string;
}

export interface Paging {
  limit: number;
  offset: number;
}

const ORG_UNIQUE = {
  organizations_slug_active_uq: 'An organization with this slug already exists',
  organizations_name_active_uq: 'An organization with this name already exists',
};

// ───────────────────────────── helpers ─────────────────────────────

const memberCountSql = sql<number>`(select count(*)::int from organization_members m join users u on u.id = m.user_id and u.deleted_at is null where m.org_id = organizations.id)`;
const teamCountSql = sql<number>`(select count(*)::int from teams t where t.org_id = organizations.id and t.deleted_at is null)`;

function view(org: Organization, counts: { memberCount: number; teamCount: number }, role: RoleRef): OrganizationView {
  return {
    id: org.id,
    name: org.name,
    slug: org.slug,
    description: org.description,
    website: org.website,
    logoUrl: org.logoUrl,
    location: org.location,
    timezone: org.timezone,
    isPublic: org.isPublic,
    joinEnabled: org.joinEnabled,
    createdAt: iso(org.createdAt),
    updatedAt: iso(org.updatedAt),
    memberCount: counts.memberCount,
    teamCount: counts.teamCount,
    role: { id: role.id, name: role.name, permissions: role.permissions },
  };
}

async function counts(db: Database | Transaction, orgId: string): Promise<{ memberCount: number; teamCount: number }> {
  const [row] = await db.select({ memberCount: memberCountSql, teamCount: teamCountSql }).from(organizations).where(eq(organizations.id, orgId));
  return { memberCount: Number(row?.memberCount ?? 0), teamCount: Number(row?.teamCount ?? 0) };
}

/** The first free `<slug>-N` (N ≥ 1) among live organizations, kept within 50 characters. */
async function suggestSlug(tx: Transaction, slug: string): Promise<string | null> {
  for (let start = 1; start <= 100; start += 20) {
    const candidates = Array.from({ length: 20 }, (_, i) => {
      const suffix = `-${start + i}`;
      return `${slug.slice(0, 50 - suffix.length).replace(/-+$/, '')}${suffix}`;
    });
    const taken = new Set(
      (await tx.select({ slug: organizations.slug }).from(organizations).where(and(inArray(organizations.slug, candidates), isNull(organizations.deletedAt)))).map((r) => r.slug),
    );
    const free = candidates.find((c) => !taken.has(c) && !isUuid(c));
    if (free) return free;
  }
  return null;
}

async function nameTaken(tx: Transaction, name: string, exceptId?: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: organizations.id })
    .from(organizations)
    .where(and(sql`lower(${organizations.name}) = lower(${name})`, isNull(organizations.deletedAt), exceptId ? ne(organizations.id, exceptId) : undefined))
    .limit(1);
  return Boolean(row);
}

/** A role of the organization by id or (case-insensitive) name; 400 when it does not exist. */
export async function resolveOrgRole(db: Database | Transaction, orgId: string, ref: string) {
  const cond = isUuid(ref) ? eq(organizationRoles.id, ref.toLowerCase()) : sql`lower(${organizationRoles.name}) = lower(${ref})`;
  const [r] = await db.select().from(organizationRoles).where(and(eq(organizationRoles.orgId, orgId), cond)).limit(1);
  if (!r) {
    throw new AppError('VALIDATION_ERROR', `Unknown role "${ref}" for this organization`, { details: { issues: [{ path: 'role', message: 'not a role of this organization' }] } });
  }
  return r;
}

async function memberWithRole(tx: Transaction, orgId: string, userId: string) {
  const [row] = await tx
    .select({ memberId: organizationMembers.id, userId: organizationMembers.userId, joinedAt: organizationMembers.joinedAt, role: organizationRoles })
    .from(organizationMembers)
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .where(and(eq(organizationMembers.orgId, orgId), eq(organizationMembers.userId, userId)))
    .limit(1);
  return row ?? null;
}

// ───────────────────────────── organizations ─────────────────────────────

/** POST /organization — any signed-in user; the creator becomes Owner of the four default roles. */
export async function createOrganization(ctx: ServiceContext, input: CreateOrganizationInput): Promise<OrganizationView> {
  const userId = await limitedCaller(ctx, 'orgCreate');
  const result = await ctx.db.write
    .transaction(async (tx) => {
      const [slugTaken] = await tx
        .select({ id: organizations.id })
        .from(organizations)
        .where(and(eq(organizations.slug, input.slug), isNull(organizations.deletedAt)))
        .limit(1);
      if (slugTaken) {
        const suggestion = await suggestSlug(tx, input.slug);
        throw new AppError('CONFLICT', 'An organization with this slug already exists', { details: { field: 'slug', suggestion } });
      }
      if (await nameTaken(tx, input.name)) throw new AppError('CONFLICT', 'An organization with this name already exists', { details: { field: 'name' } });
      const [org] = await tx
        .insert(organizations)
        .values({
          name: input.name,
          slug: input.slug,
          description: input.description ?? null,
          website: input.website ?? null,
          logoUrl: input.logoUrl ?? null,
          location: input.location ?? null,
          timezone: input.timezone ?? null,
          isPublic: input.isPublic ?? true,
          joinEnabled: input.joinEnabled ?? false,
        })
        .returning();
      const roles = await tx
        .insert(organizationRoles)
        .values(DEFAULT_ORG_ROLES.map((r) => ({ orgId: org!.id, name: r.name, description: r.description, permissions: [...r.permissions], isDefault: true })))
        .returning();
      const owner = roles.find((r) => isOwnerRole('organization', r))!;
      await tx.insert(organizationMembers).values({ orgId: org!.id, userId, roleId: owner.id });
      await audit(tx, 'organization', org!.id, {
        actorId: userId,
        action: 'organization.create',
        changes: { after: { name: org!.name, slug: org!.slug, isPublic: org!.isPublic, joinEnabled: org!.joinEnabled } },
      });
      return view(org!, { memberCount: 1, teamCount: 0 }, { id: owner.id, name: owner.name, permissions: owner.permissions });
    })
    .catch((err) => conflictOn(err, ORG_UNIQUE));
  await invalidateOrgLists(ctx, [userId]);
  return result;
}

/** GET /organization — the caller's organizations with their role and counts (cached per user). */
export async function listMyOrganizations(ctx: ServiceContext, paging: Paging): Promise<{ items: OrganizationView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const all = await cached(ctx.config, cacheKeys(ctx.config).orgList(userId), async () => {
    const rows = await ctx.db.write
      .select({ org: organizations, role: organizationRoles, memberCount: memberCountSql, teamCount: teamCountSql })
      .from(organizationMembers)
      .innerJoin(organizations, and(eq(organizations.id, organizationMembers.orgId), isNull(organizations.deletedAt)))
      .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
      .where(eq(organizationMembers.userId, userId))
      .orderBy(asc(sql`lower(${organizations.name})`), asc(organizations.id));
    return rows.map((r) =>
      view(r.org, { memberCount: Number(r.memberCount), teamCount: Number(r.teamCount) }, { id: r.role.id, name: r.role.name, permissions: r.role.permissions }),
    );
  });
  return page(all, paging.limit, paging.offset);
}

/** GET /organization/:orgId — any member. */
export async function getOrganization(ctx: ServiceContext, orgRef: string): Promise<OrganizationView> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:read');
  return view(a.org, await counts(ctx.db.write, a.org.id), a.orgRole);
}

/** PATCH /organization/:orgId — `org:update`. Audits the changed fields only. */
export async function updateOrganization(ctx: ServiceContext, orgRef: string, input: UpdateOrganizationInput): Promise<OrganizationView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const { result, members } = await ctx.db.write
    .transaction(async (tx) => {
      const a = await authorize(tx, userId, { org: orgRef }, 'org:update', { lock: true });
      const changes = diff(a.org as unknown as Record<string, unknown>, input as Record<string, unknown>);
      if (!changes) return { result: view(a.org, await counts(tx, a.org.id), a.orgRole), members: [] as string[] };
      if (input.name !== undefined && input.name.toLowerCase() !== a.org.name.toLowerCase() && (await nameTaken(tx, input.name, a.org.id))) {
        throw new AppError('CONFLICT', 'An organization with this name already exists', { details: { field: 'name' } });
      }
      const [org] = await tx.update(organizations).set(changes.after as Partial<Organization>).where(eq(organizations.id, a.org.id)).returning();
      await audit(tx, 'organization', org!.id, { actorId: userId, action: 'organization.update', changes });
      return { result: view(org!, await counts(tx, org!.id), a.orgRole), members: await orgMemberIds(tx, org!.id) };
    })
    .catch((err) => conflictOn(err, ORG_UNIQUE));
  await invalidateOrgLists(ctx, members);
  return result;
}

/**
 * DELETE /organization/:orgId — `org:delete` (Owner). Soft delete of the organization and, in the same
 * transaction, of its teams and projects: every read filters deleted_at at each level, so all of them
 * disappear at once. Memberships and audit history are kept; the slug and name become free again.
 */
export async function deleteOrganization(ctx: ServiceContext, orgRef: string): Promise<{ id: string; deletedAt: string }> {
  const userId = await limitedCaller(ctx, 'orgDelete');
  const { id, at, members } = await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, { org: orgRef }, 'org:delete', { lock: true });
    const at = new Date();
    const members = await orgMemberIds(tx, a.org.id);
    const deletedTeams = await tx
      .update(teams)
      .set({ deletedAt: at })
      .where(and(eq(teams.orgId, a.org.id), isNull(teams.deletedAt)))
      .returning({ id: teams.id });
    const teamIds = deletedTeams.map((t) => t.id);
    const deletedProjects = teamIds.length
      ? await tx
          .update(projects)
          .set({ deletedAt: at })
          .where(and(inArray(projects.teamId, teamIds), isNull(projects.deletedAt)))
          .returning({ id: projects.id })
      : [];
    await tx.update(organizations).set({ deletedAt: at }).where(eq(organizations.id, a.org.id));
    await audit(tx, 'organization', a.org.id, {
      actorId: userId,
      action: 'organization.delete',
      level: 'WARN',
      changes: { before: { name: a.org.name, slug: a.org.slug }, teams: teamIds.length, projects: deletedProjects.length },
    });
    return { id: a.org.id, at, members };
  });
  await invalidateOrgLists(ctx, members);
  return { id, deletedAt: iso(at) };
}

// ───────────────────────────── members ─────────────────────────────

/** GET /organization/:orgId/members — any member; oldest first. */
export async function listMembers(ctx: ServiceContext, orgRef: string, paging: Paging): Promise<{ items: MemberView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:read');
  return memberPage(ctx.db.write, 'organization', a.org.id, { userId, managesMembers: a.can('org:members:manage') }, paging);
}

/**
 * PATCH /organization/:orgId/members/:userId — `org:members:manage`. The caller must hold every
 * permission of both the member's current role and the new one (a Co-Owner cannot make or unmake an
 * Owner); the last Owner cannot be demoted.
 */
export async function changeMemberRole(ctx: ServiceContext, orgRef: string, targetUserId: string, roleRef: string): Promise<MemberView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const { result, affected } = await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, { org: orgRef }, 'org:members:manage', { lock: true });
    const target = await memberWithRole(tx, a.org.id, targetUserId);
    if (!target) throw new AppError('NOT_FOUND', 'Member not found');
    const next = await resolveOrgRole(tx, a.org.id, roleRef);
    assertCanGrant(a.orgRole.permissions, target.role.permissions, `change the role of a ${target.role.name}`);
    assertCanGrant(a.orgRole.permissions, next.permissions, `assign the ${next.name} role`);
    if (next.id !== target.role.id) {
      if (isOwnerRole('organization', target.role) && (await ownerCount(tx, 'organization', a.org.id)) <= 1) {
        throw new AppError('CONFLICT', 'The last Owner cannot be demoted: make another member Owner first');
      }
      await tx.update(organizationMembers).set({ roleId: next.id }).where(eq(organizationMembers.id, target.memberId));
      await audit(tx, 'organization', a.org.id, {
        actorId: userId,
        action: 'member.role_change',
        targetType: 'user',
        targetId: targetUserId,
        changes: { before: { role: target.role.name }, after: { role: next.name } },
      });
    }
    const [u] = await tx.select().from(users).where(eq(users.id, targetUserId));
    return {
      affected: next.id !== target.role.id ? [targetUserId] : [],
      result: {
        userId: targetUserId,
        name: u ? displayName(u) : null,
        email: u?.email ?? '',
        avatarUrl: u?.imageUrl ?? null,
        role: { id: next.id, name: next.name },
        joinedAt: iso(target.joinedAt),
      },
    };
  });
  await invalidateOrgLists(ctx, affected);
  return result;
}

/**
 * DELETE /organization/:orgId/members/:userId — `org:members:manage`, or any member removing themself
 * (leaving). Same no-escalation rule as a role change; the last Owner can neither be removed nor leave.
 * Team and project memberships inside the organization go with it (membership requires org membership).
 */
export async function removeMember(ctx: ServiceContext, orgRef: string, targetUserId: string): Promise<{ userId: string; removed: true }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const self = targetUserId === userId;
  const members = await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, { org: orgRef }, self ? 'org:read' : 'org:members:manage', { lock: true });
    const target = await memberWithRole(tx, a.org.id, targetUserId);
    if (!target) throw new AppError('NOT_FOUND', 'Member not found');
    if (!self) assertCanGrant(a.orgRole.permissions, target.role.permissions, `remove a ${target.role.name}`);
    if (isOwnerRole('organization', target.role) && (await ownerCount(tx, 'organization', a.org.id)) <= 1) {
      throw new AppError('CONFLICT', 'The last Owner cannot be removed: make another member Owner first');
    }
    const members = await orgMemberIds(tx, a.org.id);
    await removeFromOrgTeams(tx, a.org.id, targetUserId);
    await tx.delete(organizationMembers).where(eq(organizationMembers.id, target.memberId));
    await audit(tx, 'organization', a.org.id, {
      actorId: userId,
      action: self ? 'member.leave' : 'member.remove',
      level: 'WARN',
      targetType: 'user',
      targetId: targetUserId,
      changes: { before: { role: target.role.name } },
    });
    return members;
  });
  await invalidateOrgLists(ctx, members);
  return { userId: targetUserId, removed: true };
}

/** Team and project memberships of a user inside one organization. */
async function removeFromOrgTeams(tx: Transaction, orgId: string, userId: string): Promise<void> {
  const orgTeams = tx.select({ id: teams.id }).from(teams).where(eq(teams.orgId, orgId));
  const orgProjects = tx.select({ id: projects.id }).from(projects).where(inArray(projects.teamId, orgTeams));
  await tx.delete(projectMembers).where(and(eq(projectMembers.userId, userId), inArray(projectMembers.projectId, orgProjects)));
  await tx.delete(teamMembers).where(and(eq(teamMembers.userId, userId), inArray(teamMembers.teamId, orgTeams)));
}

// ───────────────────────────── roles, audit, teams ─────────────────────────────

/** GET /organization/:orgId/roles — any member; most powerful first. */
export async function listOrgRoles(ctx: ServiceContext, orgRef: string): Promise<RoleView[]> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:read');
  return rolesOf(ctx.db.write, 'organization', a.org.id);
}

/** GET /organization/:orgId/audit — `org:audit:read` (Owner, Co-Owner); newest first. */
export async function listOrgAudit(ctx: ServiceContext, orgRef: string, paging: Paging): Promise<{ items: AuditLogView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgAudit');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:audit:read');
  return readAuditLog(ctx.db.write, 'organization', a.org.id, paging.limit, paging.offset);
}

export interface TeamSummary {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  visibility: 'PUBLIC' | 'PRIVATE' | 'INTERNAL';
  memberCount: number;
  projectCount: number;
  /** The caller's team role, when they are a member of the team. */
  role: { id: string; name: string } | null;
  createdAt: string;
}

/** GET /organization/:orgId/teams — the teams the caller can read (the same rule as GET /team/:teamId). */
export async function listOrgTeams(ctx: ServiceContext, orgRef: string, paging: Paging): Promise<{ items: TeamSummary[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:read');
  const rows = await ctx.db.write
    .select({
      team: teams,
      roleId: teamRoles.id,
      roleName: teamRoles.name,
      rolePerms: teamRoles.permissions,
      memberCount: sql<number>`(select count(*)::int from team_members tm join users u on u.id = tm.user_id and u.deleted_at is null where tm.team_id = teams.id)`,
      projectCount: sql<number>`(select count(*)::int from projects p where p.team_id = teams.id and p.deleted_at is null)`,
    })
    .from(teams)
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .leftJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
    .where(and(eq(teams.orgId, a.org.id), isNull(teams.deletedAt)))
    .orderBy(asc(sql`lower(${teams.name})`), asc(teams.id));
  const visible = rows
    .filter((r) => teamPermissions(a.orgRole.permissions, r.rolePerms, r.team.visibility).has('team:read'))
    .map((r) => ({
      id: r.team.id,
      name: r.team.name,
      slug: r.team.slug,
      description: r.team.description,
      visibility: r.team.visibility,
      memberCount: Number(r.memberCount),
      projectCount: Number(r.projectCount),
      role: r.roleId && r.roleName ? { id: r.roleId, name: r.roleName } : null,
      createdAt: iso(r.team.createdAt),
    }));
  return page(visible, paging.limit, paging.offset);
}
