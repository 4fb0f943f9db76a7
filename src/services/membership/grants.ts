import type { Project, Team } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { ALL_PERMISSIONS, type Permission } from './permissions';

/*
 * Permission math, without I/O: what a caller's roles and a resource's visibility add up to (see
 * permissions.ts for the layering), and the no-escalation rule. authz.ts feeds it from the database; list
 * endpoints filter with the same functions, so a list never shows what a direct read would refuse.
 */

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
export function teamPermissions(orgRolePerms: readonly string[], team: { rolePerms: readonly string[] | null; visibility: Team['visibility'] }): Set<Permission> {
  const { rolePerms: teamRolePerms, visibility } = team;
  const set = new Set<Permission>([...scoped(orgRolePerms, 'team:', 'project:'), ...scoped(teamRolePerms, 'team:', 'project:')]);
  if (visibility !== 'PRIVATE') set.add('team:read');
  return set;
}

/**
 * Effective permissions on a project: project role ∪ the project:* grants of the caller's team-level
 * permissions (team role + org role) ∪ `project:read` for whoever reads the team when the project is
 * not PRIVATE.
 */
export function projectPermissions(teamPerms: ReadonlySet<Permission>, project: { rolePerms: readonly string[] | null; visibility: Project['visibility'] }): Set<Permission> {
  const { rolePerms: projectRolePerms, visibility } = project;
  const set = new Set<Permission>([...[...teamPerms].filter((p) => p.startsWith('project:')), ...scoped(projectRolePerms, 'project:')]);
  if (visibility !== 'PRIVATE' && teamPerms.has('team:read')) set.add('project:read');
  return set;
}

/**
 * No privilege escalation: a caller may hand out (invite with, assign) a role, or change or remove a
 * member holding a role, only when every permission of that role is one the caller holds at the same
 * level. `held` is the caller's effective permission set for the scope (for org roles: the caller's org
 * role permissions, which include the inherited team/project grants).
 */
export function assertCanGrant(held: ReadonlySet<string> | readonly string[], role: { permissions: readonly string[]; what: string }): void {
  const { permissions: rolePermissions, what } = role;
  const set = held instanceof Set ? held : new Set(held as readonly string[]);
  const missing = known(rolePermissions).filter((p) => !set.has(p));
  if (missing.length > 0) {
    throw new AppError('FORBIDDEN', `You cannot ${what}: it needs permissions you do not hold`, { details: { missing } });
  }
}
