/**
 * The one permission vocabulary (roles, checks and tests all use these strings) and the default role
 * matrix, as data. `authz.ts` is the only code that interprets it.
 *
 * How permissions layer (decided in authz.ts, documented here because the data is shaped for it):
 *   • an ORG role holds `org:*` permissions for the organization, and may also hold `team:*` / `project:*`
 *     permissions, which then apply to EVERY team / project of that organization (inherited grants);
 *   • a TEAM role holds `team:*` permissions for its team and may hold `project:*` permissions, which apply
 *     to every project of that team;
 *   • a PROJECT role holds `project:*` permissions for its project;
 *   • visibility grants read access: every org member reads the PUBLIC and INTERNAL teams of the org, and
 *     whoever reads a team reads its PUBLIC and INTERNAL projects. A PRIVATE team / project is read only by
 *     its members and by roles that inherit `team:read` / `project:read` (org Owner and Co-Owner, and for
 *     projects the team Owner and Admin).
 * Effective permissions on a team = team role ∪ inherited from the org role ∪ visibility grant; on a
 * project = project role ∪ inherited from the team role ∪ inherited from the org role ∪ visibility grant.
 * Without the level's `:read` permission the resource does not exist for the caller (404); with it but
 * without the permission a route needs, the answer is 403.
 */

export const ORG_PERMISSIONS = [
  'org:read',
  'org:update',
  'org:delete',
  'org:members:manage',
  'org:members:invite',
  'org:teams:create',
  'org:audit:read',
  'org:billing:manage',
] as const;

export const TEAM_PERMISSIONS = [
  'team:read',
  'team:update',
  'team:delete',
  'team:members:invite',
  'team:members:manage',
  'team:projects:create',
  /** Extension of the seed's list: reading the team audit log (team Owner/Admin, org Owner/Co-Owner). */
  'team:audit:read',
] as const;

export const PROJECT_PERMISSIONS = ['project:read', 'project:update', 'project:delete', 'project:members:manage'] as const;

export type OrgPermission = (typeof ORG_PERMISSIONS)[number];
export type TeamPermission = (typeof TEAM_PERMISSIONS)[number];
export type ProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type Permission = OrgPermission | TeamPermission | ProjectPermission;

export const ALL_PERMISSIONS: readonly Permission[] = [...ORG_PERMISSIONS, ...TEAM_PERMISSIONS, ...PROJECT_PERMISSIONS];

export interface RoleDefinition {
  name: string;
  description: string;
  permissions: readonly Permission[];
}

const allTeam = TEAM_PERMISSIONS;
const allProject = PROJECT_PERMISSIONS;

/**
 * Default organization roles (the product's role names, mapped onto the permission vocabulary). Created with the organization;
 * the creator is Owner.
 *   organization.view/edit/delete     → org:read / org:update / org:delete
 *   organization.manageBilling        → org:billing:manage
 *   members.invite                    → org:members:invite;  members.remove + manageRoles → org:members:manage
 *   teams.create                      → org:teams:create;    audit.view → org:audit:read
 *   teams.* / projects.* on all teams → inherited team:* / project:* grants (Owner, Co-Owner: all of them;
 *                                        Maintainer: edit + manage members + create projects, no delete)
 *   teams.view / projects.view        → the visibility grant (every member reads PUBLIC/INTERNAL teams)
 */
export const DEFAULT_ORG_ROLES = [
  {
    name: 'Owner',
    description: 'Full control of the organization, its teams and projects, billing and deletion',
    permissions: [...ORG_PERMISSIONS, ...allTeam, ...allProject],
  },
  {
    name: 'Co-Owner',
    description: 'Manages the organization, its members and every team and project; cannot delete it or manage billing',
    permissions: [
      'org:read',
      'org:update',
      'org:members:manage',
      'org:members:invite',
      'org:teams:create',
      'org:audit:read',
      ...allTeam,
      ...allProject,
    ],
  },
  {
    name: 'Maintainer',
    description: 'Invites members, creates teams and maintains the teams and projects visible to them',
    permissions: [
      'org:read',
      'org:members:invite',
      'org:teams:create',
      'team:update',
      'team:members:invite',
      'team:members:manage',
      'team:projects:create',
      'project:update',
    ],
  },
  {
    name: 'Member',
    description: 'Reads the organization and its non-private teams and projects',
    permissions: ['org:read'],
  },
] as const satisfies readonly RoleDefinition[];

/** Default team roles (the product's role names). Created with the team; the creator is Owner. */
export const DEFAULT_TEAM_ROLES = [
  {
    name: 'Owner',
    description: 'Full control of the team and its projects',
    permissions: [...allTeam, ...allProject],
  },
  {
    name: 'Admin',
    description: 'Manages the team, its members and projects; cannot delete the team',
    permissions: [
      'team:read',
      'team:update',
      'team:members:invite',
      'team:members:manage',
      'team:projects:create',
      'team:audit:read',
      ...allProject,
    ],
  },
  {
    name: 'Member',
    description: 'Reads the team, creates projects and edits the projects visible to them',
    permissions: ['team:read', 'team:projects:create', 'project:update'],
  },
] as const satisfies readonly RoleDefinition[];

/** Default project roles. Created with the project; the creator is Owner. */
export const DEFAULT_PROJECT_ROLES = [
  { name: 'Owner', description: 'Full control of the project', permissions: [...allProject] },
  { name: 'Editor', description: 'Reads and edits the project', permissions: ['project:read', 'project:update'] },
  { name: 'Viewer', description: 'Reads the project', permissions: ['project:read'] },
] as const satisfies readonly RoleDefinition[];

export type OrgRoleName = (typeof DEFAULT_ORG_ROLES)[number]['name'];
export type TeamRoleName = (typeof DEFAULT_TEAM_ROLES)[number]['name'];

/** Role given to someone who joins an org without an org invite (accepting a team invite: team members are always org members). */
export const ORG_JOIN_ROLE: OrgRoleName = 'Member';
export const DEFAULT_ORG_INVITE_ROLE: OrgRoleName = 'Member';
export const DEFAULT_TEAM_INVITE_ROLE: TeamRoleName = 'Member';
/** The roles whose last holder can never be demoted, removed or leave (the default role of that name). */
export const ORG_OWNER_ROLE: OrgRoleName = 'Owner';
export const TEAM_OWNER_ROLE: TeamRoleName = 'Owner';
export const PROJECT_OWNER_ROLE: (typeof DEFAULT_PROJECT_ROLES)[number]['name'] = 'Owner';
