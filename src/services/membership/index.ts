// Organizations → teams → projects: members, roles, invites and audit logs, written once over a scope
// descriptor (scopes.ts). One authorization module (authz.ts) over one permission matrix (permissions.ts);
// every service calls `authorize` before anything else.
export * from './organizations';
export * from './teams';
export * from './projects';
export { addProjectMember } from './project-members';
export { changeRole, leave, listMembers, listRoles, removeMember, type MemberView, type RoleView } from './members';
export type { ScopeMember } from './format';
export { listAuditLog, type AuditLogView } from './audit';
export { acceptInvite, createInvite, declineTeamInvite, listInvites, previewTeamInvite, revokeInvite, type CreateInviteInput } from './invites';
export { checkTeamInvitesBulk, createTeamInvitesBulk, MAX_INVITES_PER_CALL, type BulkInviteCheck } from './invite-bulk';
export { MAX_CSV_ROWS } from './invite-csv';
export { ROW_ERROR_CODES, type InviteView } from './invite-rows';
export type { InviteStatusFilter } from './invite-status';
export type { OrgTarget, ProjectTarget, TeamTarget } from './authz';
export type { Paging } from './format';
