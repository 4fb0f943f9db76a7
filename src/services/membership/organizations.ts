import { and, asc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { Queryable } from '../../db/client';
import { organizationMembers, organizationRoles, organizations, teamMembers, teamRoles, teams, type Organization } from '../../db/schema';
import { cached } from '../../lib/cache';
import { cacheKeys } from '../../lib/cache-keys';
import type { OrganizationView } from '../../lib/cached-views';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from './audit';
import { seedMembership } from './members';
import { authorize, type RoleRef } from './authz';
import { invalidateOrgLists, limitedCaller } from './caller';
import { conflictOn, diff, iso, isUuid, page, type Paging } from './format';
import { teamPermissions } from './grants';
import { scopeMemberIds } from './queries';
import { deleteTeamProjects, TEAM_COUNTS } from './teams';

export type { OrganizationView } from '../../lib/cached-views';

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

async function counts(db: Queryable, orgId: string): Promise<{ memberCount: number; teamCount: number }> {
  const [row] = await db.select({ memberCount: memberCountSql, teamCount: teamCountSql }).from(organizations).where(eq(organizations.id, orgId));
  return { memberCount: Number(row?.memberCount ?? 0), teamCount: Number(row?.teamCount ?? 0) };
}

/** The first free `<slug>-N` (N ≥ 1) among live organizations, kept within 50 characters. */
async function suggestSlug(tx: Queryable, slug: string): Promise<string | null> {
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

async function nameTaken(tx: Queryable, name: string, exceptId?: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: organizations.id })
    .from(organizations)
    .where(and(sql`lower(${organizations.name}) = lower(${name})`, isNull(organizations.deletedAt), exceptId ? ne(organizations.id, exceptId) : undefined))
    .limit(1);
  return Boolean(row);
}

// ───────────────────────────── organizations ─────────────────────────────

/** POST /organization — any signed-in user; the creator becomes Owner of the four default roles. */
export async function createOrganization(ctx: ServiceContext, input: CreateOrganizationInput): Promise<OrganizationView> {
  const userId = await limitedCaller(ctx, 'orgCreate');
  const result = await withTransaction(ctx, async (tx, ctx) => {
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
    const { owner } = await seedMembership(ctx, { scope: 'organization', scopeId: org!.id, ownerId: userId });
    await audit(ctx, {
      scope: 'organization',
      scopeId: org!.id,
      actorId: userId,
      action: 'organization.create',
      changes: { after: { name: org!.name, slug: org!.slug, isPublic: org!.isPublic, joinEnabled: org!.joinEnabled } },
    });
    return view(org!, { memberCount: 1, teamCount: 0 }, { id: owner.id, name: owner.name, permissions: owner.permissions });
  }).catch((err) => conflictOn(err, ORG_UNIQUE));
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
  return page(all, paging);
}

/** GET /organization/:orgId — any member. */
export async function getOrganization(ctx: ServiceContext, orgRef: string): Promise<OrganizationView> {
  await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx, { target: { org: orgRef }, permission: 'org:read' });
  return view(a.org, await counts(ctx.db.write, a.org.id), a.orgRole);
}

/** PATCH /organization/:orgId — `org:update`. Audits the changed fields only. */
export async function updateOrganization(ctx: ServiceContext, input: UpdateOrganizationInput & { org: string }): Promise<OrganizationView> {
  const { org: orgRef, ...patch } = input;
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const { result, members } = await withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target: { org: orgRef }, permission: 'org:update', lock: true });
    const changes = diff(a.org as unknown as Record<string, unknown>, patch as Record<string, unknown>);
    if (!changes) return { result: view(a.org, await counts(tx, a.org.id), a.orgRole), members: [] as string[] };
    if (patch.name !== undefined && patch.name.toLowerCase() !== a.org.name.toLowerCase() && (await nameTaken(tx, patch.name, a.org.id))) {
      throw new AppError('CONFLICT', 'An organization with this name already exists', { details: { field: 'name' } });
    }
    const [org] = await tx.update(organizations).set(changes.after as Partial<Organization>).where(eq(organizations.id, a.org.id)).returning();
    await audit(ctx, { scope: 'organization', scopeId: org!.id, actorId: userId, action: 'organization.update', changes });
    return { result: view(org!, await counts(tx, org!.id), a.orgRole), members: await scopeMemberIds(ctx, { scope: 'organization', scopeId: org!.id }) };
  }).catch((err) => conflictOn(err, ORG_UNIQUE));
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
  const { id, at, members } = await withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target: { org: orgRef }, permission: 'org:delete', lock: true });
    const at = new Date();
    const members = await scopeMemberIds(ctx, { scope: 'organization', scopeId: a.org.id });
    const deletedTeams = await tx
      .update(teams)
      .set({ deletedAt: at })
      .where(and(eq(teams.orgId, a.org.id), isNull(teams.deletedAt)))
      .returning({ id: teams.id });
    const teamIds = deletedTeams.map((t) => t.id);
    const deletedProjects = await deleteTeamProjects(ctx, { teamIds, at });
    await tx.update(organizations).set({ deletedAt: at }).where(eq(organizations.id, a.org.id));
    await audit(ctx, {
      scope: 'organization',
      scopeId: a.org.id,
      actorId: userId,
      action: 'organization.delete',
      level: 'WARN',
      changes: { before: { name: a.org.name, slug: a.org.slug }, teams: teamIds.length, projects: deletedProjects },
    });
    return { id: a.org.id, at, members };
  });
  await invalidateOrgLists(ctx, members);
  return { id, deletedAt: iso(at) };
}

// ───────────────────────────── teams ─────────────────────────────

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
export async function listOrgTeams(ctx: ServiceContext, input: { org: string } & Paging): Promise<{ items: TeamSummary[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx, { target: { org: input.org }, permission: 'org:read' });
  const rows = await ctx.db.write
    .select({
      team: teams,
      roleId: teamRoles.id,
      roleName: teamRoles.name,
      rolePerms: teamRoles.permissions,
      ...TEAM_COUNTS,
    })
    .from(teams)
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .leftJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
    .where(and(eq(teams.orgId, a.org.id), isNull(teams.deletedAt)))
    .orderBy(asc(sql`lower(${teams.name})`), asc(teams.id));
  const visible = rows
    .filter((r) => teamPermissions(a.orgRole.permissions, { rolePerms: r.rolePerms, visibility: r.team.visibility }).has('team:read'))
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
  return page(visible, input);
}
