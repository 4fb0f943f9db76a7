import { createRouter, serviceContext } from '../../router';
import { body, data, json, paged, pageOf, route, UserId, z } from '../kit';
import {
  changeRole,
  createTeam,
  deleteTeam,
  getTeam,
  listAuditLog,
  listMembers,
  listRoles,
  listTeamProjects,
  removeMember,
  updateTeam,
} from '../../services/membership';
import { atLeastOne, AuditLogEntry, common, conflict, forbidden, IdOrSlug, Member, Name, Profile, Role, RoleInput, RoleRefOut, Slug, Visibility } from '../organization/schemas';
import { target, TeamPagedQuery, TeamParam, TeamQuery } from './params';

// Teams, their members, roles, projects and audit log. Addressing is in ./params.ts; the invitations are in
// ./invites.ts, mounted before this router.

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

const MemberParam = TeamParam.extend({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });

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

const ChangeTeamMemberRole = z
  .object({
    roleId: RoleInput.optional().openapi({ description: 'A role of the team, by id (or name)' }),
    role: RoleInput.optional().openapi({ description: 'Same as roleId (the field name of the organization and project routes)' }),
  })
  .strict()
  .refine((b) => (b.roleId === undefined) !== (b.role === undefined), 'give exactly one of roleId or role')
  .openapi('ChangeTeamMemberRole');

const tags = ['team'];

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
