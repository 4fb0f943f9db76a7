import { and, eq, isNull, type SQL } from 'drizzle-orm';
import type { PgSelect } from 'drizzle-orm/pg-core';
import type { Queryable } from '../../db/client';
import {
  organizationMembers,
  organizationRoles,
  organizations,
  projectMembers,
  projectRoles,
  projects,
  teamMembers,
  teamRoles,
  teams,
  type Organization,
  type Project,
  type Team,
} from '../../db/schema';
import type { RoleRef } from '../../lib/cached-views';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { isUuid } from './format';
import { orgPermissions, projectPermissions, teamPermissions } from './grants';
import type { OrgPermission, Permission, ProjectPermission, TeamPermission } from './permissions';

/**
 * The one place that decides who may do what on organizations, teams and projects. Every service of
 * src/services/membership calls `authorize` before it reads or changes anything (and `assertCanGrant` before it
 * hands out a role); list endpoints filter with the same pure functions `teamPermissions` /
 * `projectPermissions`, so a list never shows what a direct read would refuse.
 *
 * Decisions (see permissions.ts for the layering and the role matrix):
 *   • no session → 401 AUTH_REQUIRED;
 *   • unknown or soft-deleted org/team/project (or a soft-deleted parent), caller not a member of the
 *     organization, or caller without the level's `:read` permission → 404 NOT_FOUND (existence is never
 *     revealed — the same answer as a random id);
 *   • caller who can read but lacks the required permission → 403 FORBIDDEN.
 * Decisions read the database on every request (never a cache): a role change or removal takes effect on
 * the very next request.
 *
 * Addressing: `:orgId` is the organization's uuid or slug (slugs are globally unique among live orgs and
 * can never look like a uuid — DB check). A team slug is unique only within its organization, so a team is
 * addressed by uuid, or by slug together with its organization (`orgId`); a project by uuid, or by slug
 * together with its team (`teamId`, itself a uuid or a slug + `orgId`).
 */

export type { RoleRef } from '../../lib/cached-views';

export interface OrgTarget {
  org: string;
}
export interface TeamTarget {
  team: string;
  org?: string;
}
export interface ProjectTarget {
  project: string;
  team?: string;
  org?: string;
}

interface AccessBase {
  userId: string;
  /** Effective permissions at this level (including inherited and visibility grants). */
  permissions: ReadonlySet<Permission>;
  can(permission: Permission): boolean;
}

export interface OrgAccess extends AccessBase {
  org: Organization;
  orgRole: RoleRef;
}

export interface TeamAccess extends OrgAccess {
  team: Team;
  teamRole: RoleRef | null;
}

export interface ProjectAccess extends TeamAccess {
  project: Project;
  projectRole: RoleRef | null;
}

type Db = Queryable;

/** The uuid-or-slug condition for an organization reference. */
function orgRefCondition(ref: string): SQL {
  const value = ref.toLowerCase();
  return isUuid(value) ? eq(organizations.id, value) : eq(organizations.slug, value);
}

function teamRefCondition(target: { team: string; org?: string }): SQL {
  const value = target.team.toLowerCase();
  if (isUuid(value)) return and(eq(teams.id, value), target.org ? orgRefCondition(target.org) : undefined)!;
  if (!target.org) {
    throw new AppError('VALIDATION_ERROR', 'A team slug is only unique within its organization: pass orgId (id or slug) as well, or use the team id', {
      details: { issues: [{ path: 'orgId', message: 'required with a team slug' }] },
    });
  }
  return and(eq(teams.slug, value), orgRefCondition(target.org))!;
}

function projectRefCondition(target: ProjectTarget): SQL {
  const value = target.project.toLowerCase();
  if (isUuid(value)) {
    return and(eq(projects.id, value), target.team ? teamRefCondition({ team: target.team, org: target.org }) : undefined)!;
  }
  if (!target.team) {
    throw new AppError('VALIDATION_ERROR', 'A project slug is only unique within its team: pass teamId as well, or use the project id', {
      details: { issues: [{ path: 'teamId', message: 'required with a project slug' }] },
    });
  }
  return and(eq(projects.slug, value), teamRefCondition({ team: target.team, org: target.org }))!;
}

const role = (id: string | null, name: string | null, permissions: string[] | null): RoleRef | null =>
  id && name ? { id, name, permissions: permissions ?? [] } : null;

function decide(permissions: Set<Permission>, read: Permission, required: Permission, what: string): void {
  if (!permissions.has(read)) throw new AppError('NOT_FOUND', `${what} not found`);
  if (!permissions.has(required)) {
    throw new AppError('FORBIDDEN', `You do not have permission to do this (${required} required)`, { details: { required } });
  }
}

const access = <T extends object>(userId: string, permissions: Set<Permission>, rest: T) => ({
  userId,
  permissions,
  can: (p: Permission) => permissions.has(p),
  ...rest,
});

export interface AuthorizeInput<T, P extends Permission> {
  target: T;
  permission: P;
  /**
   * Lock the target row (org, team or project) FOR UPDATE before deciding — serialises membership and
   * lifecycle changes, and the decision reads the memberships committed while it waited.
   */
  lock?: boolean;
  /**
   * For adding under the target (a team, a project, a member): lock the organization and team above it and the
   * target itself FOR SHARE (the target FOR UPDATE with `lock`) before deciding. A concurrent removal or
   * demotion of the caller, or deletion of a parent, then commits wholly before the decision (which sees it) or
   * waits until the addition has committed (and then sees, and sweeps, what was added).
   */
  lockHierarchy?: boolean;
  /** Whose access to decide; the caller by default (invites check their inviter's standing with it). */
  userId?: string;
}

/** Reads `ctx.db.write`: inside `withTransaction` that is the transaction, so `lock` holds until it commits. */
export function authorize(ctx: ServiceContext, input: AuthorizeInput<ProjectTarget, ProjectPermission>): Promise<ProjectAccess>;
export function authorize(ctx: ServiceContext, input: AuthorizeInput<TeamTarget, TeamPermission | ProjectPermission>): Promise<TeamAccess>;
export function authorize(ctx: ServiceContext, input: AuthorizeInput<OrgTarget, OrgPermission>): Promise<OrgAccess>;
export function authorize(ctx: ServiceContext, input: AuthorizeInput<OrgTarget | TeamTarget | ProjectTarget, Permission>): Promise<OrgAccess | TeamAccess | ProjectAccess>;
export async function authorize(
  ctx: ServiceContext,
  input: AuthorizeInput<OrgTarget | TeamTarget | ProjectTarget, Permission>,
): Promise<OrgAccess | TeamAccess | ProjectAccess> {
  const userId = input.userId ?? ctx.userId;
  if (!userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  const { permission } = input;
  const db = ctx.db.write;
  let target = input.target;
  if (input.lockHierarchy) {
    const ids = await resolveIds(db, userId, target, false);
    await lockHierarchy(ctx, { ids, exceptTarget: !!input.lock });
    target = byId(target, ids);
  }
  if (input.lock) target = byId(target, await resolveIds(db, userId, target, true));
  if ('project' in target) return authorizeProject(db, userId, target, permission);
  if ('team' in target) return authorizeTeam(db, userId, target, permission);
  return authorizeOrg(db, userId, target, permission);
}

export interface TargetIds {
  org: string;
  team: string | null;
  project: string | null;
}

/** The target addressed by id (the id of its own level). */
function byId(target: OrgTarget | TeamTarget | ProjectTarget, ids: TargetIds): OrgTarget | TeamTarget | ProjectTarget {
  if ('project' in target) return { project: ids.project! };
  if ('team' in target) return { team: ids.team! };
  return { org: ids.org };
}

/**
 * The ids of the target and its parents, with `forUpdate` the target's row locked. Nothing is decided here:
 * under READ COMMITTED a statement that waited for a row lock rechecks only the row it locked, so a
 * membership joined in that same statement would be the one from before the wait — a member removed or
 * demoted by the transaction that held the lock would still pass. The join on the organization membership
 * only keeps outsiders from taking locks.
 */
async function resolveIds(db: Db, userId: string, target: OrgTarget | TeamTarget | ProjectTarget, forUpdate: boolean): Promise<TargetIds> {
  const member = and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId));
  if ('project' in target) {
    const q = db
      .select({ org: organizations.id, team: teams.id, project: projects.id })
      .from(projects)
      .innerJoin(teams, eq(teams.id, projects.teamId))
      .innerJoin(organizations, eq(organizations.id, teams.orgId))
      .innerJoin(organizationMembers, member)
      .where(and(projectRefCondition(target), isNull(projects.deletedAt)))
      .limit(1);
    const [row] = forUpdate ? await q.for('update', { of: projects }) : await q;
    if (!row) throw new AppError('NOT_FOUND', 'Project not found');
    return row;
  }
  if ('team' in target) {
    const q = db
      .select({ org: organizations.id, team: teams.id })
      .from(teams)
      .innerJoin(organizations, eq(organizations.id, teams.orgId))
      .innerJoin(organizationMembers, member)
      .where(and(teamRefCondition(target), isNull(teams.deletedAt)))
      .limit(1);
    const [row] = forUpdate ? await q.for('update', { of: teams }) : await q;
    if (!row) throw new AppError('NOT_FOUND', 'Team not found');
    return { ...row, project: null };
  }
  const q = db
    .select({ org: organizations.id })
    .from(organizations)
    .innerJoin(organizationMembers, member)
    .where(and(orgRefCondition(target.org), isNull(organizations.deletedAt)))
    .limit(1);
  const [row] = forUpdate ? await q.for('update', { of: organizations }) : await q;
  if (!row) throw new AppError('NOT_FOUND', 'Organization not found');
  return { ...row, team: null, project: null };
}

/**
 * The organization, the team and the project of `ids` down to the target's level FOR SHARE, top-down: the
 * order removals and deletions take their FOR UPDATE locks in. `exceptTarget` leaves the target itself to a
 * FOR UPDATE lock taken next.
 */
export async function lockHierarchy(ctx: ServiceContext, input: { ids: TargetIds; exceptTarget: boolean }): Promise<void> {
  const { ids } = input;
  const levels = [
    { table: organizations, id: ids.org },
    ...(ids.team ? [{ table: teams, id: ids.team }] : []),
    ...(ids.project ? [{ table: projects, id: ids.project }] : []),
  ];
  if (input.exceptTarget) levels.pop();
  for (const { table, id } of levels) await ctx.db.write.select({ id: table.id }).from(table).where(eq(table.id, id)).for('share');
}

async function authorizeOrg(db: Db, userId: string, target: OrgTarget, permission: Permission): Promise<OrgAccess> {
  const q = db
    .select({ org: organizations, roleId: organizationRoles.id, roleName: organizationRoles.name, rolePerms: organizationRoles.permissions })
    .from(organizations)
    .innerJoin(organizationMembers, and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId)))
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .where(and(orgRefCondition(target.org), isNull(organizations.deletedAt)))
    .limit(1);
  const [row] = await q;
  if (!row) throw new AppError('NOT_FOUND', 'Organization not found');
  const orgRole = role(row.roleId, row.roleName, row.rolePerms)!;
  const permissions = orgPermissions(orgRole.permissions);
  decide(permissions, 'org:read', permission, 'Organization');
  return access(userId, permissions, { org: row.org, orgRole });
}

/** The caller's organization role (they must be a member) and team role (if any) of the team in the query. */
const ORG_AND_TEAM_ROLES = {
  orgRoleId: organizationRoles.id,
  orgRoleName: organizationRoles.name,
  orgRolePerms: organizationRoles.permissions,
  teamRoleId: teamRoles.id,
  teamRoleName: teamRoles.name,
  teamRolePerms: teamRoles.permissions,
};

function withOrgAndTeamRoles<T extends PgSelect>(q: T, userId: string) {
  return q
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(organizationMembers, and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId)))
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .leftJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId));
}

async function authorizeTeam(db: Db, userId: string, target: TeamTarget, permission: Permission): Promise<TeamAccess> {
  const base = db
    .select({
      team: teams,
      org: organizations,
      ...ORG_AND_TEAM_ROLES,
    })
    .from(teams)
    .$dynamic();
  const q = withOrgAndTeamRoles(base, userId)
    .where(and(teamRefCondition(target), isNull(teams.deletedAt)))
    .limit(1);
  const [row] = await q;
  if (!row) throw new AppError('NOT_FOUND', 'Team not found');
  const orgRole = role(row.orgRoleId, row.orgRoleName, row.orgRolePerms)!;
  const teamRole = role(row.teamRoleId, row.teamRoleName, row.teamRolePerms);
  const permissions = teamPermissions(orgRole.permissions, { rolePerms: teamRole?.permissions ?? null, visibility: row.team.visibility });
  decide(permissions, 'team:read', permission, 'Team');
  return access(userId, permissions, { org: row.org, orgRole, team: row.team, teamRole });
}

async function authorizeProject(db: Db, userId: string, target: ProjectTarget, permission: Permission): Promise<ProjectAccess> {
  const base = db
    .select({
      project: projects,
      team: teams,
      org: organizations,
      ...ORG_AND_TEAM_ROLES,
      projectRoleId: projectRoles.id,
      projectRoleName: projectRoles.name,
      projectRolePerms: projectRoles.permissions,
    })
    .from(projects)
    .innerJoin(teams, and(eq(teams.id, projects.teamId), isNull(teams.deletedAt)))
    .$dynamic();
  const q = withOrgAndTeamRoles(base, userId)
    .leftJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, userId)))
    .leftJoin(projectRoles, eq(projectRoles.id, projectMembers.roleId))
    .where(and(projectRefCondition(target), isNull(projects.deletedAt)))
    .limit(1);
  const [row] = await q;
  if (!row) throw new AppError('NOT_FOUND', 'Project not found');
  const orgRole = role(row.orgRoleId, row.orgRoleName, row.orgRolePerms)!;
  const teamRole = role(row.teamRoleId, row.teamRoleName, row.teamRolePerms);
  const projectRole = role(row.projectRoleId, row.projectRoleName, row.projectRolePerms);
  const teamPerms = teamPermissions(orgRole.permissions, { rolePerms: teamRole?.permissions ?? null, visibility: row.team.visibility });
  const permissions = projectPermissions(teamPerms, { rolePerms: projectRole?.permissions ?? null, visibility: row.project.visibility });
  decide(permissions, 'project:read', permission, 'Project');
  return access(userId, permissions, { org: row.org, orgRole, team: row.team, teamRole, project: row.project, projectRole });
}
