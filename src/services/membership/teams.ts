import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../../db/client';
import { projectMembers, projectRoles, projects, teams, type Team } from '../../db/schema';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from './audit';
import { seedMembership } from './members';
import { authorize, type TeamAccess, type TeamTarget } from './authz';
import { invalidateOrgLists, limitedCaller } from './caller';
import { conflictOn, diff, iso, page, type Paging } from './format';
import { projectPermissions } from './grants';
import { assertNameFree, TEAM_UNIQUE } from './names';
import { scopeMemberIds } from './queries';

export type Visibility = 'PUBLIC' | 'PRIVATE' | 'INTERNAL';

export interface TeamView {
  id: string;
  organization: { id: string; name: string; slug: string };
  name: string;
  slug: string;
  description: string | null;
  website: string | null;
  logoUrl: string | null;
  location: string | null;
  timezone: string | null;
  visibility: Visibility;
  joinEnabled: boolean;
  createdAt: string;
  updatedAt: string;
  memberCount: number;
  projectCount: number;
  /** The caller's team role (null when they read the team through their org role or its visibility). */
  role: { id: string; name: string } | null;
  /** The caller's effective permissions on the team and its projects. */
  permissions: string[];
}

export interface TeamFields {
  description?: string | null;
  website?: string | null;
  logoUrl?: string | null;
  location?: string | null;
  timezone?: string | null;
  visibility?: Visibility;
  joinEnabled?: boolean;
}

export interface CreateTeamInput extends TeamFields {
  org: string;
  name: string;
  slug: string;
}

export interface UpdateTeamInput extends TeamFields {
  name?: string;
}


/** A team's active members and live projects, as columns of a query over `teams`. */
export const TEAM_COUNTS = {
  memberCount: sql<number>`(select count(*)::int from team_members tm join users u on u.id = tm.user_id and u.deleted_at is null where tm.team_id = teams.id)`,
  projectCount: sql<number>`(select count(*)::int from projects p where p.team_id = teams.id and p.deleted_at is null)`,
};

async function teamCounts(tx: Queryable, teamId: string) {
  const [row] = await tx
    .select(TEAM_COUNTS)
    .from(teams)
    .where(eq(teams.id, teamId));
  return { memberCount: Number(row?.memberCount ?? 0), projectCount: Number(row?.projectCount ?? 0) };
}

function view(a: Pick<TeamAccess, 'org' | 'teamRole' | 'permissions'>, team: Team, counts: { memberCount: number; projectCount: number }): TeamView {
  return {
    id: team.id,
    organization: { id: a.org.id, name: a.org.name, slug: a.org.slug },
    name: team.name,
    slug: team.slug,
    description: team.description,
    website: team.website,
    logoUrl: team.logoUrl,
    location: team.location,
    timezone: team.timezone,
    visibility: team.visibility,
    joinEnabled: team.joinEnabled,
    createdAt: iso(team.createdAt),
    updatedAt: iso(team.updatedAt),
    ...counts,
    role: a.teamRole ? { id: a.teamRole.id, name: a.teamRole.name } : null,
    permissions: [...a.permissions].sort(),
  };
}


/** POST /team — `org:teams:create` in the organization; the creator becomes the team's Owner. */
export async function createTeam(ctx: ServiceContext, input: CreateTeamInput): Promise<TeamView> {
  const userId = await limitedCaller(ctx, 'orgCreate');
  const { result, members } = await withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target: { org: input.org }, permission: 'org:teams:create', lockHierarchy: true });
    await assertNameFree(ctx, { level: 'team', parentId: a.org.id, slug: input.slug, name: input.name });
    const [team] = await tx
      .insert(teams)
      .values({
        orgId: a.org.id,
        name: input.name,
        slug: input.slug,
        description: input.description ?? null,
        website: input.website ?? null,
        logoUrl: input.logoUrl ?? null,
        location: input.location ?? null,
        timezone: input.timezone ?? null,
        visibility: input.visibility ?? 'INTERNAL',
        joinEnabled: input.joinEnabled ?? false,
      })
      .returning();
    await seedMembership(ctx, { scope: 'team', scopeId: team!.id, ownerId: userId });
    const created = { name: team!.name, slug: team!.slug, visibility: team!.visibility };
    await audit(ctx, [
      { scope: 'team', scopeId: team!.id, actorId: userId, action: 'team.create', changes: { after: created } },
      { scope: 'organization', scopeId: a.org.id, actorId: userId, action: 'team.create', targetType: 'team', targetId: team!.id, changes: { after: created } },
    ]);
    const access = await authorize(ctx, { target: { team: team!.id }, permission: 'team:read' });
    return { result: view(access, team!, { memberCount: 1, projectCount: 0 }), members: await scopeMemberIds(ctx, { scope: 'organization', scopeId: a.org.id }) };
  }).catch((err) => conflictOn(err, TEAM_UNIQUE));
  await invalidateOrgLists(ctx, members);
  return result;
}

/** GET /team/:teamId — whoever can read the team (members; org members for non-private teams). */
export async function getTeam(ctx: ServiceContext, target: TeamTarget): Promise<TeamView> {
  await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx, { target, permission: 'team:read' });
  return view(a, a.team, await teamCounts(ctx.db.write, a.team.id));
}

/** PATCH /team/:teamId — `team:update` (team Owner/Admin, org Owner/Co-Owner/Maintainer). */
export async function updateTeam(ctx: ServiceContext, input: UpdateTeamInput & { target: TeamTarget }): Promise<TeamView> {
  const { target, ...patch } = input;
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target, permission: 'team:update', lock: true });
    const changes = diff(a.team as unknown as Record<string, unknown>, patch as Record<string, unknown>);
    if (!changes) return view(a, a.team, await teamCounts(tx, a.team.id));
    if (changes.after.name !== undefined && String(changes.after.name).toLowerCase() !== a.team.name.toLowerCase()) {
      await assertNameFree(ctx, { level: 'team', parentId: a.org.id, name: String(changes.after.name), exceptId: a.team.id });
    }
    const [team] = await tx.update(teams).set(changes.after as Partial<Team>).where(eq(teams.id, a.team.id)).returning();
    await audit(ctx, { scope: 'team', scopeId: team!.id, actorId: userId, action: 'team.update', changes });
    // Visibility may change what the caller can do: recompute from the database.
    const fresh = await authorize(ctx, { target: { team: team!.id }, permission: 'team:read' });
    return view(fresh, team!, await teamCounts(tx, team!.id));
  }).catch((err) => conflictOn(err, TEAM_UNIQUE));
}

/** Soft-deletes the live projects of these teams (with their team or organization); returns how many. */
export async function deleteTeamProjects(ctx: ServiceContext, input: { teamIds: string[]; at: Date }): Promise<number> {
  if (!input.teamIds.length) return 0;
  const gone = await ctx.db.write
    .update(projects)
    .set({ deletedAt: input.at })
    .where(and(inArray(projects.teamId, input.teamIds), isNull(projects.deletedAt)))
    .returning({ id: projects.id });
  return gone.length;
}

/** DELETE /team/:teamId — `team:delete` (team Owner, org Owner/Co-Owner). Soft delete of the team and its projects. */
export async function deleteTeam(ctx: ServiceContext, target: TeamTarget): Promise<{ id: string; deletedAt: string }> {
  const userId = await limitedCaller(ctx, 'orgDelete');
  const { id, at, members } = await withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target, permission: 'team:delete', lock: true });
    const at = new Date();
    const gone = await deleteTeamProjects(ctx, { teamIds: [a.team.id], at });
    await tx.update(teams).set({ deletedAt: at }).where(eq(teams.id, a.team.id));
    const entry = { actorId: userId, action: 'team.delete', level: 'WARN' as const, changes: { before: { name: a.team.name, slug: a.team.slug }, projects: gone } };
    await audit(ctx, [
      { scope: 'team', scopeId: a.team.id, ...entry },
      { scope: 'organization', scopeId: a.org.id, targetType: 'team', targetId: a.team.id, ...entry },
    ]);
    return { id: a.team.id, at, members: await scopeMemberIds(ctx, { scope: 'organization', scopeId: a.org.id }) };
  });
  await invalidateOrgLists(ctx, members);
  return { id, deletedAt: iso(at) };
}

export interface ProjectSummary {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  visibility: Visibility;
  githubRepo: string | null;
  role: { id: string; name: string } | null;
  createdAt: string;
}

/** GET /team/:teamId/projects — the team's projects the caller can read (the same rule as GET /project/:id). */
export async function listTeamProjects(ctx: ServiceContext, input: { target: TeamTarget } & Paging): Promise<{ items: ProjectSummary[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx, { target: input.target, permission: 'team:read' });
  const rows = await ctx.db.write
    .select({ project: projects, roleId: projectRoles.id, roleName: projectRoles.name, rolePerms: projectRoles.permissions })
    .from(projects)
    .leftJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, userId)))
    .leftJoin(projectRoles, eq(projectRoles.id, projectMembers.roleId))
    .where(and(eq(projects.teamId, a.team.id), isNull(projects.deletedAt)))
    .orderBy(asc(sql`lower(${projects.name})`), asc(projects.id));
  const visible = rows
    .filter((r) => projectPermissions(a.permissions, { rolePerms: r.rolePerms, visibility: r.project.visibility }).has('project:read'))
    .map((r) => ({
      id: r.project.id,
      name: r.project.name,
      slug: r.project.slug,
      description: r.project.description,
      visibility: r.project.visibility,
      githubRepo: r.project.githubRepo,
      role: r.roleId && r.roleName ? { id: r.roleId, name: r.roleName } : null,
      createdAt: iso(r.project.createdAt),
    }));
  return page(visible, input);
}
