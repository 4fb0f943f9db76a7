import { sql, type SQL } from 'drizzle-orm';
import {
  organizationAuditLogs,
  organizationInvites,
  organizationMembers,
  organizationRoles,
  organizations,
  projectAuditLogs,
  projectMembers,
  projectRoles,
  projects,
  teamAuditLogs,
  teamInvites,
  teamMembers,
  teamRoles,
  teams,
} from '../../db/schema';
import type { OrgTarget, ProjectTarget, TeamTarget } from './authz';
import { DEFAULT_ORG_ROLES, DEFAULT_PROJECT_ROLES, DEFAULT_TEAM_ROLES, ORG_OWNER_ROLE, PROJECT_OWNER_ROLE, TEAM_OWNER_ROLE, type Permission, type RoleDefinition } from './permissions';

/*
 * Organizations, teams and projects are one concept at three scopes: each has roles, members (one role
 * each), an audit log and — organizations and teams — invites. The tables differ only in the name of their
 * scope column, so every membership operation is written once over this descriptor.
 */

export type Scope = 'organization' | 'team' | 'project';
export type Target = OrgTarget | TeamTarget | ProjectTarget;

/** The scope a target addresses (a project target may name its team, a team target its organization). */
export const scopeOf = (target: Target): Scope => ('project' in target ? 'project' : 'team' in target ? 'team' : 'organization');

const SCOPES = {
  organization: {
    table: organizations,
    members: organizationMembers,
    roles: organizationRoles,
    auditLogs: organizationAuditLogs,
    memberScopeId: organizationMembers.orgId,
    roleScopeId: organizationRoles.orgId,
    auditScopeId: organizationAuditLogs.orgId,
    /** The property name of the scope column in the member, role and audit-log tables. */
    scopeKey: 'orgId',
    ownerRole: ORG_OWNER_ROLE,
    /** Created with the scope; its creator gets the Owner role. */
    defaultRoles: DEFAULT_ORG_ROLES,
    /** How messages name the scope ("…of the team"); the organization is the default and goes unnamed. */
    noun: 'organization',
    of: '',
    rolePrefix: '',
    /** The request field a role reference came in (for 400 details). */
    roleField: 'role',
    read: 'org:read',
    manage: 'org:members:manage',
  },
  team: {
    table: teams,
    members: teamMembers,
    roles: teamRoles,
    auditLogs: teamAuditLogs,
    memberScopeId: teamMembers.teamId,
    roleScopeId: teamRoles.teamId,
    auditScopeId: teamAuditLogs.teamId,
    scopeKey: 'teamId',
    ownerRole: TEAM_OWNER_ROLE,
    defaultRoles: DEFAULT_TEAM_ROLES,
    noun: 'team',
    of: ' of the team',
    rolePrefix: 'team ',
    roleField: 'roleId',
    read: 'team:read',
    manage: 'team:members:manage',
  },
  project: {
    table: projects,
    members: projectMembers,
    roles: projectRoles,
    auditLogs: projectAuditLogs,
    memberScopeId: projectMembers.projectId,
    roleScopeId: projectRoles.projectId,
    auditScopeId: projectAuditLogs.projectId,
    scopeKey: 'projectId',
    ownerRole: PROJECT_OWNER_ROLE,
    defaultRoles: DEFAULT_PROJECT_ROLES,
    noun: 'project',
    of: ' of the project',
    rolePrefix: 'project ',
    roleField: 'role',
    read: 'project:read',
    manage: 'project:members:manage',
  },
} as const satisfies Record<Scope, { read: Permission; manage: Permission } & Record<string, unknown>>;

type Descriptor = Omit<(typeof SCOPES)['organization'], 'scopeKey' | 'noun' | 'of' | 'rolePrefix' | 'roleField' | 'ownerRole' | 'defaultRoles' | 'read' | 'manage'> & {
  defaultRoles: readonly RoleDefinition[];
  scopeKey: 'orgId';
  noun: string;
  of: string;
  rolePrefix: string;
  roleField: string;
  ownerRole: string;
  read: Permission;
  manage: Permission;
};

/** The tables and wording of a scope, typed as the organization's to build one query for any scope (the columns used exist in all three). */
export const scope = (s: Scope): Descriptor => SCOPES[s] as unknown as Descriptor;

/** Invites exist for organizations and teams (organization invites cannot be declined). */
export type InviteScope = 'organization' | 'team';

const INVITES = {
  organization: { invites: organizationInvites, scopeId: organizationInvites.orgId, declinedAt: sql<Date | null>`null`, event: 'organization.invited', permission: 'org:members:invite' },
  team: { invites: teamInvites, scopeId: teamInvites.teamId, declinedAt: teamInvites.declinedAt, event: 'team.invited', permission: 'team:members:invite' },
} as const;

/** The invite table of a scope, typed as the organization's (the columns used exist in both; `declinedAt` is SQL null for organizations). */
export const inviteScope = (s: InviteScope) =>
  INVITES[s] as unknown as {
    invites: typeof organizationInvites;
    scopeId: typeof organizationInvites.orgId;
    declinedAt: SQL<Date | null>;
    event: 'organization.invited' | 'team.invited';
    permission: Permission;
  };

/** Whether `role` is the scope's (default) Owner role, whose last holder must stay. */
export const isOwnerRole = (s: Scope, role: { name: string; isDefault: boolean }): boolean => role.isDefault && role.name === SCOPES[s].ownerRole;
