import { and, eq, isNull, type SQL } from 'drizzle-orm';
import type { Database, Transaction } from '../../db/client';
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
import { ALL_PERMISSIONS, type OrgPermission, type Permission, type ProjectPermission, type TeamPermission } from './permissions';

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

type Db = Database | Transaction;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);

const KNOWN = new Set<string>(ALL_PERMISSIONS);
const known = (perms: readonly string[] | null | undefined): Permission[] => (perms ?? []).filter((p): p is Permission => KNOWN.has(p));
const scoped = (perms: readonly string[] | null | undefined, ...prefixes: string[]): Permission[] =>
  known(perms).filter((p) => prefixes.some((prefix) => p.startsWith(prefix)));

/** Effective permissions at organization level: the org role's `org:*` permissions. */
export function orgPermissions(orgRolePerms: readonly string[]): Set<Permission> {
  return new Set(scoped(orgRolePerms, 'org:'));
}

/**
 * Effective permissions on a team (team:* and the project:* grants that flow down to its projects):
 * team role ∪ what the org role grants on every team ∪ `team:read` for every org member when the team
 * is not PRIVATE.
 */
export function teamPermissions(orgRolePerms: readonly string[], teamRolePerms: readonly string[] | null, visibility: Team['visibility']): Set<Permission> {
  const set = new Set<Permission>([...scoped(orgRolePerms, 'team:', 'project:'), ...scoped(teamRolePerms, 'team:', 'project:')]);
  if (visibility !== 'PRIVATE') set.add('team:read');
  return set;
}

/**
 * Effective permissions on a project: project role ∪ the project:* grants of the caller's team-level
 * permissions (team role + org role) ∪ `project:read` for whoever reads the team when the project is
 * not PRIVATE.
 */
export function projectPermissions(teamPerms: ReadonlySet<Permission>, projectRolePerms: readonly string[] | null, visibility: Project['visibility']): Set<Permission> {
  const set = new Set<Permission>([...[...teamPerms].filter((p) => p.startsWith('project:')), ...scoped(projectRolePerms, 'project:')]);
  if (visibility !== 'PRIVATE' && teamPerms.has('team:read')) set.add('project:read');
  return set;
}

/** The uuid-or-slug condition for an organization reference. */
export function orgRefCondition(ref: string): SQL {
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

export interface AuthorizeOptions {
  /** Lock the target row (org, team or project) FOR UPDATE — serialises membership and lifecycle changes. */
  lock?: boolean;
}

export function authorize(db: Db, userId: string | undefined, target: ProjectTarget, permission: ProjectPermission, options?: AuthorizeOptions): Promise<ProjectAccess>;
export function authorize(db: Db, userId: string | undefined, target: TeamTarget, permission: TeamPermission | ProjectPermission, options?: AuthorizeOptions): Promise<TeamAccess>;
export function authorize(db: Db, userId: string | undefined, target: OrgTarget, permission: OrgPermission, options?: AuthorizeOptions): Promise<OrgAccess>;
export async function authorize(
  db: Db,
  userId: string | undefined,
  target: OrgTarget | TeamTarget | ProjectTarget,
  permission: Permission,
  options: AuthorizeOptions = {},
): Promise<OrgAccess | TeamAccess | ProjectAccess> {
  if (!userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  if ('project' in target) return authorizeProject(db, userId, target, permission, options);
  if ('team' in target) return authorizeTeam(db, userId, target, permission, options);
  return authorizeOrg(db, userId, target, permission, options);
}

async function authorizeOrg(db: Db, userId: string, target: OrgTarget, permission: Permission, options: AuthorizeOptions): Promise<OrgAccess> {
  const q = db
    .select({ org: organizations, roleId: organizationRoles.id, roleName: organizationRoles.name, rolePerms: organizationRoles.permissions })
    .from(organizations)
    .innerJoin(organizationMembers, and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId)))
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .where(and(orgRefCondition(target.org), isNull(organizations.deletedAt)))
    .limit(1);
  const [row] = options.lock ? await q.for('update', { of: organizations }) : await q;
  if (!row) throw new AppError('NOT_FOUND', 'Organization not found');
  const orgRole = role(row.roleId, row.roleName, row.rolePerms)!;
  const permissions = orgPermissions(orgRole.permissions);
  decide(permissions, 'org:read', permission, 'Organization');
  return access(userId, permissions, { org: row.org, orgRole });
}

async function authorizeTeam(db: Db, userId: string, target: TeamTarget, permission: Permission, options: AuthorizeOptions): Promise<TeamAccess> {
  const q = db
    .select({
      team: teams,
      org: organizations,
      orgRoleId: organizationRoles.id,
      orgRoleName: organizationRoles.name,
      orgRolePerms: organizationRoles.permissions,
      teamRoleId: teamRoles.id,
      teamRoleName: teamRoles.name,
      teamRolePerms: teamRoles.permissions,
    })
    .from(teams)
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(organizationMembers, and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId)))
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .leftJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
    .where(and(teamRefCondition(target), isNull(teams.deletedAt)))
    .limit(1);
  const [row] = options.lock ? await q.for('update', { of: teams }) : await q;
  if (!row) throw new AppError('NOT_FOUND', 'Team not found');
  const orgRole = role(row.orgRoleId, row.orgRoleName, row.orgRolePerms)!;
  const teamRole = role(row.teamRoleId, row.teamRoleName, row.teamRolePerms);
  const permissions = teamPermissions(orgRole.permissions, teamRole?.permissions ?? null, row.team.visibility);
  decide(permissions, 'team:read', permission, 'Team');
  return access(userId, permissions, { org: row.org, orgRole, team: row.team, teamRole });
}

async function authorizeProject(db: Db, userId: string, target: ProjectTarget, permission: Permission, options: AuthorizeOptions): Promise<ProjectAccess> {
  const q = db
    .select({
      project: projects,
      team: teams,
      org: organizations,
      orgRoleId: organizationRoles.id,
      orgRoleName: organizationRoles.name,
      orgRolePerms: organizationRoles.permissions,
      teamRoleId: teamRoles.id,
      teamRoleName: teamRoles.name,
      teamRolePerms: teamRoles.permissions,
      projectRoleId: projectRoles.id,
      projectRoleName: projectRoles.name,
      projectRolePerms: projectRoles.permissions,
    })
    .from(projects)
    .innerJoin(teams, and(eq(teams.id, projects.teamId), isNull(teams.deletedAt)))
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(organizationMembers, and(eq(organizationMembers.orgId, organizations.id), eq(organizationMembers.userId, userId)))
    .innerJoin(organizationRoles, eq(organizationRoles.id, organizationMembers.roleId))
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, userId)))
    .leftJoin(teamRoles, eq(teamRoles.id, teamMembers.roleId))
    .leftJoin(projectMembers, and(eq(projectMembers.projectId, projects.id), eq(projectMembers.userId, userId)))
    .leftJoin(projectRoles, eq(projectRoles.id, projectMembers.roleId))
    .where(and(projectRefCondition(target), isNull(projects.deletedAt)))
    .limit(1);
  const [row] = options.lock ? await q.for('update', { of: projects }) : await q;
  if (!row) throw new AppError('NOT_FOUND', 'Project not found');
  const orgRole = role(row.orgRoleId, row.orgRoleName, row.orgRolePerms)!;
  const teamRole = role(row.teamRoleId, row.teamRoleName, row.teamRolePerms);
  const projectRole = role(row.projectRoleId, row.projectRoleName, row.projectRolePerms);
  const teamPerms = teamPermissions(orgRole.permissions, teamRole?.permissions ?? null, row.team.visibility);
  const permissions = projectPermissions(teamPerms, projectRole?.permissions ?? null, row.project.visibility);
  decide(permissions, 'project:read', permission, 'Project');
  return access(userId, permissions, { org: row.org, orgRole, team: row.team, teamRole, project: row.project, projectRole });
}

/**
 * No privilege escalation: a caller may hand out (invite with, assign) a role, or change or remove a
 * member holding a role, only when every permission of that role is one the caller holds at the same
 * level. `held` is the caller's effective permission set for the scope (for org roles: the caller's org
 * role permissions, which include the inherited team/project grants).
 */
export function assertCanGrant(held: ReadonlySet<string> | readonly string[], rolePermissions: readonly string[], what: string): void {
  const set = held instanceof Set ? held : new Set(held as readonly string[]);
  const missing = known(rolePermissions).filter((p) => !set.has(p));
  if (missing.length > 0) {
    throw new AppError('FORBIDDEN', `You cannot ${what}: it needs permissions you do not hold`, { details: { missing } });
  }
}
