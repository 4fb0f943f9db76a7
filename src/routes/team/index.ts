import { createRouter, serviceContext } from '../../router';
import { body, data, errors, json, paged, pageOf, Paging, route, z } from '../kit';
import {
  acceptInvite,
  changeRole,
  checkTeamInvitesBulk,
  createInvite,
  createTeam,
  createTeamInvitesBulk,
  declineTeamInvite,
  deleteTeam,
  getTeam,
  listAuditLog,
  listInvites,
  listMembers,
  listRoles,
  listTeamProjects,
  MAX_CSV_ROWS,
  MAX_INVITES_PER_CALL,
  previewTeamInvite,
  removeMember,
  revokeInvite,
  ROW_ERROR_CODES,
  updateTeam,
} from '../../services/membership';
import { atLeastOne, AuditLogEntry, CodeBody, common, conflict, Email, ExpiresInDays, forbidden, IdOrSlug, Invite, InviteCode, inviteMailCap, InviteStatusQuery, Member, Name, Profile, Role, RoleInput, RoleRefOut, Slug, Visibility } from '../organization/schemas';

// Addressing: `:teamId` is the team's uuid, or its slug together with `?orgId=` (org id or slug) — a team
// slug is only unique inside its organization. Bodies naming a team use the same pair (teamId, orgId).

const Team = z
  .object({
    id: z.uuid(),
    organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    website: z.string().nullable(),
    logoUrl: z.string().nullable(),
    location: z.string().nullable(),
    timezone: z.string().nullable(),
    visibility: Visibility,
    joinEnabled: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    memberCount: z.number().int(),
    projectCount: z.number().int(),
    role: RoleRefOut.nullable().openapi({ description: "The caller's team role, if a member" }),
    permissions: z.array(z.string()).openapi({ description: "The caller's effective permissions on the team and its projects" }),
  })
  .openapi('Team');

const ProjectSummary = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    visibility: Visibility,
    githubRepo: z.string().nullable(),
    role: RoleRefOut.nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('ProjectSummary');

const OrgQualifier = IdOrSlug.optional().openapi({ description: "The team's organization (id or slug); required when the team is given by slug" });
const TeamParam = z.object({ teamId: IdOrSlug.openapi({ param: { name: 'teamId', in: 'path' }, description: 'Team id, or slug with ?orgId=' }) });
const TeamQuery = z.object({ orgId: OrgQualifier });
const TeamPagedQuery = Paging.extend({ orgId: OrgQualifier });
const MemberParam = TeamParam.extend({ userId: z.string().min(1).max(255).openapi({ param: { name: 'userId', in: 'path' } }) });
const InviteParam = TeamParam.extend({ inviteId: z.uuid().openapi({ param: { name: 'inviteId', in: 'path' } }) });
const target = (teamId: string, orgId?: string) => ({ team: teamId, org: orgId });

const TeamFields = {
  ...Profile,
  visibility: Visibility.optional(),
  joinEnabled: z.boolean().optional(),
};

const CreateTeam = z
  .object({ orgId: IdOrSlug, name: Name, slug: Slug, ...TeamFields })
  .strict()
  .openapi('CreateTeam', { description: 'Needs org:teams:create in the organization; visibility defaults to INTERNAL' });
const UpdateTeam = z.object({ name: Name.optional(), ...TeamFields }).strict().refine(atLeastOne, 'nothing to update').openapi('UpdateTeam');

const TeamRefBody = { teamId: IdOrSlug, orgId: OrgQualifier };
const SingleInvite = z
  .object({ ...TeamRefBody, email: Email, role: RoleInput.optional(), expiresInDays: ExpiresInDays })
  .strict()
  .openapi('CreateTeamInvite');
const BulkInvites = z
  .union([
    z
      .object({
        ...TeamRefBody,
        expiresInDays: ExpiresInDays,
        invites: z
          .array(z.object({ email: z.string().max(320), role: RoleInput.optional() }).strict())
          .min(1)
          .max(MAX_INVITES_PER_CALL),
      })
      .strict(),
    z
      .object({
        ...TeamRefBody,
        expiresInDays: ExpiresInDays,
        csv: z.string().min(1).max(1_000_000).openapi({ description: `CSV text with a header row "email,role" (role optional); at most ${MAX_CSV_ROWS} rows` }),
      })
      .strict(),
  ])
  .openapi('CreateTeamInvitesBulk', {
    description: `Either a JSON list or CSV text. Every row is validated first: if any is invalid the answer is 400 with details.rows and nothing is created; at most ${MAX_INVITES_PER_CALL} invitations per call.`,
  });

const ChangeTeamMemberRole = z
  .object({
    roleId: RoleInput.optional().openapi({ description: 'A role of the team, by id (or name)' }),
    role: RoleInput.optional().openapi({ description: 'Same as roleId (the field name of the organization and project routes)' }),
  })
  .strict()
  .refine((b) => (b.roleId === undefined) !== (b.role === undefined), 'give exactly one of roleId or role')
  .openapi('ChangeTeamMemberRole');

const InvitesQuery = TeamPagedQuery.extend({ status: InviteStatusQuery });

const BulkQuery = z.object({
  dryRun: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'true: validate every row and answer per row (200); nothing is stored or sent' }),
});
const RowProblem = z.object({
  code: z.enum(ROW_ERROR_CODES),
  message: z.string(),
});
const BulkInviteCheck = z
  .object({
    summary: z.object({
      total: z.number().int(),
      valid: z.number().int(),
      invalid: z.number().int(),
      wouldCreate: z.boolean().openapi({ description: `The same request without dryRun would create every invitation (no invalid row, at most ${MAX_INVITES_PER_CALL})` }),
    }),
    rows: z.array(
      z.object({
        row: z.number().int().openapi({ description: '1-based; for CSV the data row, the header not counted' }),
        email: z.string().nullable(),
        role: RoleRefOut.nullable().openapi({ description: 'The role the invitation would carry (valid rows)' }),
        valid: z.boolean(),
        errors: z.array(RowProblem),
      }),
    ),
  })
  .openapi('BulkInviteCheck');

const Joined = z.object({
  organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
  team: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
  role: RoleRefOut,
});

const tags = ['team'];
const gone = errors({ 410: 'Expired, used, declined or revoked, or void: its inviter may no longer invite to this role (details.status)' });

export const teamRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'team.create',
      tags,
      summary: 'Create a team in an organization (org:teams:create); the caller becomes its Owner',
      auth: 'session',
      request: body(CreateTeam, { orgId: 'acme-labs', name: 'Platform', slug: 'platform', visibility: 'INTERNAL' }),
      responses: { 201: json(data(Team), 'Created with the roles Owner, Admin, Member'), ...common, ...forbidden, ...conflict('Name or slug taken in the organization') },
    }),
    async (c) => {
      const { orgId, ...input } = c.req.valid('json');
      return c.json({ data: await createTeam(serviceContext(c), { org: orgId, ...input }) }, 201);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/invite',
      operationId: 'team.invite.create',
      tags,
      summary: 'Invite someone to the team by email (team:members:invite)',
      auth: 'session',
      request: body(SingleInvite, { teamId: 'platform', orgId: 'acme-labs', email: 'grace@example.com', role: 'Member' }),
      responses: {
        201: json(data(Invite), 'Invitation created; the email with the code follows'),
        ...common,
        ...inviteMailCap,
        ...forbidden,
        ...conflict('Already a member of the team, or a pending invitation for this email exists'),
      },
    }),
    async (c) => {
      const { teamId, orgId, ...input } = c.req.valid('json');
      return c.json({ data: await createInvite(serviceContext(c), { ...input, target: target(teamId, orgId) }) }, 201);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/invite/bulk',
      operationId: 'team.invite.createBulk',
      tags,
      summary: 'Invite up to 100 people at once, from a JSON list or CSV text (all or nothing, within the invite-mail cap); ?dryRun=true only checks the rows',
      auth: 'session',
      request: { query: BulkQuery, ...body(BulkInvites, {
        teamId: 'platform',
        orgId: 'acme-labs',
        invites: [{ email: 'grace@example.com' }, { email: 'alan@example.com', role: 'Admin' }],
      }) },
      responses: {
        200: json(data(BulkInviteCheck), 'dryRun=true: the result for every row; nothing was stored or sent'),
        201: json(data(z.array(Invite)), 'All invitations created; the emails follow'),
        ...common,
        ...inviteMailCap,
        ...forbidden,
      },
    }),
    async (c) => {
      const { teamId, orgId, ...input } = c.req.valid('json');
      const ctx = serviceContext(c);
      if (c.req.valid('query').dryRun === 'true') {
        return c.json({ data: await checkTeamInvitesBulk(ctx, { ...input, target: target(teamId, orgId) }) }, 200);
      }
      return c.json({ data: await createTeamInvitesBulk(ctx, { ...input, target: target(teamId, orgId) }) }, 201);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/invite/{code}',
      operationId: 'team.invite.preview',
      auth: 'public',
      tags,
      summary: 'Preview an invitation (public): organization, team, role and expiry',
      request: { params: z.object({ code: InviteCode.openapi({ param: { name: 'code', in: 'path' } }) }) },
      responses: {
        200: json(
          data(
            z.object({
              organization: z.object({ name: z.string(), slug: z.string() }),
              team: z.object({ name: z.string(), slug: z.string() }),
              role: z.object({ name: z.string() }),
              expiresAt: z.iso.datetime(),
            }),
          ),
          'The invitation',
        ),
        ...errors({ 400: 'Malformed code', 404: 'Unknown code, or its team/organization was deleted' }),
        ...gone,
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await previewTeamInvite(serviceContext(c), c.req.valid('param').code) }, 200);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/accept-invite',
      operationId: 'team.invite.accept',
      tags,
      summary: "Accept a team invitation sent to the caller's email (joins the organization as Member if needed)",
      auth: 'session',
      request: body(CodeBody, { code: 'k3VqX8dM2pLr7TzN4wYc9BfH6sJa' }),
      responses: {
        200: json(data(Joined), 'Joined'),
        ...common,
        ...errors({ 403: 'The invitation was sent to a different email address' }),
        ...conflict('Already a member of the team'),
        ...gone,
      },
    }),
    async (c) => c.json({ data: await acceptInvite(serviceContext(c), { scope: 'team', code: c.req.valid('json').code }) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/decline-invite',
      operationId: 'team.invite.decline',
      tags,
      summary: "Decline a team invitation sent to the caller's email",
      auth: 'session',
      request: body(CodeBody, { code: 'k3VqX8dM2pLr7TzN4wYc9BfH6sJa' }),
      responses: {
        200: json(data(z.object({ declined: z.literal(true) })), 'Declined'),
        ...common,
        ...errors({ 403: 'The invitation was sent to a different email address' }),
        ...gone,
      },
    }),
    async (c) => c.json({ data: await declineTeamInvite(serviceContext(c), c.req.valid('json').code) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}',
      operationId: 'team.get',
      tags,
      summary: 'One team (team members; org members when the team is not PRIVATE)',
      auth: 'session',
      request: { params: TeamParam, query: TeamQuery },
      responses: { 200: json(data(Team), 'The team'), ...common },
    }),
    async (c) => c.json({ data: await getTeam(serviceContext(c), target(c.req.valid('param').teamId, c.req.valid('query').orgId)) }, 200),
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{teamId}',
      operationId: 'team.update',
      tags,
      summary: 'Update the team (team:update)',
      auth: 'session',
      request: { params: TeamParam, query: TeamQuery, ...body(UpdateTeam, { description: 'Owns the judging platform', visibility: 'PRIVATE' }) },
      responses: { 200: json(data(Team), 'Updated'), ...common, ...forbidden, ...conflict('Name taken in the organization') },
    }),
    async (c) => c.json({ data: await updateTeam(serviceContext(c), { ...c.req.valid('json'), target: target(c.req.valid('param').teamId, c.req.valid('query').orgId) }) }, 200),
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{teamId}',
      operationId: 'team.delete',
      tags,
      summary: 'Delete the team and its projects (team:delete); audit history is kept',
      auth: 'session',
      request: { params: TeamParam, query: TeamQuery },
      responses: { 200: json(data(z.object({ id: z.uuid(), deletedAt: z.iso.datetime() })), 'Deleted'), ...common, ...forbidden },
    }),
    async (c) => c.json({ data: await deleteTeam(serviceContext(c), target(c.req.valid('param').teamId, c.req.valid('query').orgId)) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/invites',
      operationId: 'team.invite.list',
      tags,
      summary: 'Invitations of the team by status (team:members:invite)',
      auth: 'session',
      request: { params: TeamParam, query: InvitesQuery },
      responses: { 200: json(pageOf(Invite), 'Newest first'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listInvites(serviceContext(c), { ...q, target: target(c.req.valid('param').teamId, q.orgId) });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{teamId}/invites/{inviteId}',
      operationId: 'team.invite.revoke',
      tags,
      summary: 'Revoke a pending (or expired) invitation (team:members:invite)',
      auth: 'session',
      request: { params: InviteParam, query: TeamQuery },
      responses: { 200: json(data(z.object({ id: z.uuid(), status: z.literal('revoked') })), 'Revoked'), ...common, ...forbidden, ...conflict('Already used, declined or revoked') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await revokeInvite(serviceContext(c), { target: target(p.teamId, c.req.valid('query').orgId), inviteId: p.inviteId }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/members',
      operationId: 'team.member.list',
      tags,
      summary: 'Members of the team with their team roles',
      auth: 'session',
      request: { params: TeamParam, query: TeamPagedQuery },
      responses: { 200: json(pageOf(Member), 'Oldest first'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMembers(serviceContext(c), { ...q, target: target(c.req.valid('param').teamId, q.orgId) });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{teamId}/members/{userId}',
      operationId: 'team.member.updateRole',
      tags,
      summary: "Change a team member's role (team:members:manage; only to and from roles within the caller's own permissions)",
      auth: 'session',
      request: { params: MemberParam, query: TeamQuery, ...body(ChangeTeamMemberRole, { role: 'Admin' }) },
      responses: { 200: json(data(Member), 'The member with the new role'), ...common, ...forbidden, ...conflict('The last Owner of the team cannot be demoted') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const b = c.req.valid('json');
      return c.json({ data: await changeRole(serviceContext(c), { target: target(p.teamId, c.req.valid('query').orgId), userId: p.userId, role: (b.roleId ?? b.role)! }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{teamId}/members/{userId}',
      operationId: 'team.member.remove',
      tags,
      summary: 'Remove a team member (team:members:manage), or leave (own user id); the last Owner can do neither',
      auth: 'session',
      request: { params: MemberParam, query: TeamQuery },
      responses: {
        200: json(data(z.object({ userId: z.string(), removed: z.literal(true) })), 'Removed'),
        ...common,
        ...forbidden,
        ...conflict('The last Owner of the team cannot be removed or leave'),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await removeMember(serviceContext(c), { target: target(p.teamId, c.req.valid('query').orgId), userId: p.userId }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/roles',
      operationId: 'team.role.list',
      tags,
      summary: 'Roles of the team and their permissions',
      auth: 'session',
      request: { params: TeamParam, query: TeamQuery },
      responses: { 200: json(data(z.array(Role)), 'Most powerful first'), ...common },
    }),
    async (c) => c.json({ data: await listRoles(serviceContext(c), target(c.req.valid('param').teamId, c.req.valid('query').orgId)) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/projects',
      operationId: 'team.project.list',
      tags,
      summary: "The team's projects the caller can read",
      auth: 'session',
      request: { params: TeamParam, query: TeamPagedQuery },
      responses: { 200: json(pageOf(ProjectSummary), 'By name'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listTeamProjects(serviceContext(c), { ...q, target: target(c.req.valid('param').teamId, q.orgId) });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{teamId}/audit',
      operationId: 'team.audit.list',
      tags,
      summary: 'Team audit log, newest first (team:audit:read)',
      auth: 'session',
      request: { params: TeamParam, query: TeamPagedQuery },
      responses: { 200: json(pageOf(AuditLogEntry), 'A page'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listAuditLog(serviceContext(c), { ...q, target: target(c.req.valid('param').teamId, q.orgId) });
      return paged(c, r, q);
    },
  );
