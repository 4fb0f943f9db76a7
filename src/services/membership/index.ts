// Organizations → teams → projects: roles, invites and audit logs. One authorization module (authz.ts)
// over one permission matrix (permissions.ts); every service calls `authorize` before anything else.
export * from './organizations';
export * from './teams';
export * from './projects';
export * from './project-members';
export {
  acceptOrgInvite,
  acceptTeamInvite,
  checkTeamInvitesBulk,
  createOrgInvite,
  createTeamInvite,
  createTeamInvitesBulk,
  declineTeamInvite,
  listOrgInvites,
  listTeamInvites,
  previewTeamInvite,
  revokeOrgInvite,
  revokeTeamInvite,
  MAX_CSV_ROWS,
  MAX_INVITES_PER_CALL,
  ROW_ERROR_CODES,
  type BulkInviteCheck,
  type InviteStatusFilter,
  type InviteView,
} from './invites';
export type { AuditLogView } from './audit';
