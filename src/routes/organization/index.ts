import { createRouter, serviceContext } from '../../router';
import { body, data, errors, json, paged, pageOf, Paging, route, UserId, z } from '../kit';
import {
  acceptInvite,
  changeRole,
  createInvite,
  createOrganization,
  deleteOrganization,
  getOrganization,
  listAuditLog,
  listInvites,
  listMembers,
  listMyOrganizations,
  listOrgTeams,
  listRoles,
  removeMember,
  revokeInvite,
  updateOrganization,
} from '../../services/membership';
import { atLeastOne, AuditLogEntry, CodeBody, common, conflict, Email, ExpiresInDays, forbidden, IdOrSlug, Invite, inviteMailCap, InviteStatusQuery, Member, Name, Profile, Role, RoleInput, RoleRefOut, RoleWithPermissions, Slug, Visibility } from './schemas';

const Organization = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    website: z.string().nullable(),
    logoUrl: z.string().nullable(),
    location: z.string().nullable(),
    timezone: z.string().nullable(),
    isPublic: z.boolean(),
    joinEnabled: z.boolean(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    memberCount: z.number().int(),
    teamCount: z.number().int(),
    role: RoleWithPermissions.openapi({ description: "The caller's role" }),
  })
  .openapi('Organization', {
    example: {
      id: '1f0c9d2e-8a4b-4c6d-9e1f-2a3b4c5d6e7f',
      name: 'Acme Labs',
      slug: 'acme-labs',
      description: 'Hackathons for the Acme community',
      website: null,
      logoUrl: null,
      location: null,
      timezone: 'Asia/Kolkata',
      isPublic: true,
      joinEnabled: false,
      createdAt: '2026-03-01T09:30:00.000Z',
      updatedAt: '2026-03-01T09:30:00.000Z',
      memberCount: 1,
      teamCount: 0,
      role: { id: '5d6e7f80-1a2b-4c3d-8e4f-a0b1c2d3e4f5', name: 'Owner', permissions: ['org:update', 'org:delete', 'org:members:invite'] },
    },
  });

const TeamSummary = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    visibility: Visibility,
    memberCount: z.number().int(),
    projectCount: z.number().int(),
    role: RoleRefOut.nullable().openapi({ description: "The caller's team role, if a member" }),
    createdAt: z.iso.datetime(),
  })
  .openapi('TeamSummary');

const CreateOrganization = z
  .object({
    name: Name,
    slug: Slug,
    ...Profile,
    isPublic: z.boolean().optional(),
    joinEnabled: z.boolean().optional(),
  })
  .strict()
  .openapi('CreateOrganization');

const UpdateOrganization = z
  .object({ name: Name.optional(), ...Profile, isPublic: z.boolean().optional(), joinEnabled: z.boolean().optional() })
  .strict()
  .refine(atLeastOne, 'nothing to update')
  .openapi('UpdateOrganization', { description: 'Slug is not updatable. null clears an optional field.' });

const OrgParam = z.object({ orgId: IdOrSlug.openapi({ param: { name: 'orgId', in: 'path' }, description: 'Organization id or slug' }) });
const MemberParam = OrgParam.extend({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });

const InviteParam = OrgParam.extend({ inviteId: z.uuid().openapi({ param: { name: 'inviteId', in: 'path' } }) });
const InvitesQuery = Paging.extend({ status: InviteStatusQuery });

const OrgInviteBody = z
  .object({ email: Email, role: RoleInput.optional(), expiresInDays: ExpiresInDays })
  .strict()
  .openapi('CreateOrganizationInvite');

const tags = ['organization'];

export const organizationRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'organization.list',
      tags,
      summary: "The caller's organizations, with their role and member/team counts",
      auth: 'session',
      request: { query: Paging },
      responses: { 200: json(pageOf(Organization), 'A page, by name'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMyOrganizations(serviceContext(c), q);
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'organization.create',
      tags,
      summary: 'Create an organization (the caller becomes its Owner)',
      auth: 'session',
      request: body(CreateOrganization, { name: 'Acme Labs', slug: 'acme-labs', description: 'Hackathons for the Acme community', timezone: 'Asia/Kolkata', isPublic: true }),
      responses: {
        201: json(data(Organization), 'Created with the default roles Owner, Co-Owner, Maintainer, Member'),
        ...common,
        ...conflict('Slug taken (details.suggestion holds a free slug-N) or name taken'),
      },
    }),
    async (c) => c.json({ data: await createOrganization(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    route({
      method: 'post',
      path: '/accept-invite',
      operationId: 'organization.invite.accept',
      tags,
      summary: 'Accept an organization invitation sent to the caller’s email',
      auth: 'session',
      request: body(CodeBody, { code: 'k3VqX8dM2pLr7TzN4wYc9BfH6sJa' }),
      responses: {
        200: json(data(z.object({ organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }), role: RoleRefOut })), 'Joined'),
        ...common,
        ...conflict('Already a member'),
        ...errors({
          403: 'The invitation was sent to a different email address',
          410: 'Expired, used or revoked, or void: its inviter may no longer invite to this role (details.status)',
        }),
      },
    }),
    async (c) => c.json({ data: await acceptInvite(serviceContext(c), { scope: 'organization', code: c.req.valid('json').code }) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}',
      operationId: 'organization.get',
      tags,
      summary: 'One organization (members only)',
      auth: 'session',
      request: { params: OrgParam },
      responses: { 200: json(data(Organization), 'The organization'), ...common },
    }),
    async (c) => c.json({ data: await getOrganization(serviceContext(c), c.req.valid('param').orgId) }, 200),
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{orgId}',
      operationId: 'organization.update',
      tags,
      summary: 'Update name, visibility, join setting, time zone or profile fields (org:update)',
      auth: 'session',
      request: { params: OrgParam, ...body(UpdateOrganization, { description: 'Quarterly hackathons', website: 'https://acme.example', joinEnabled: false }) },
      responses: { 200: json(data(Organization), 'Updated'), ...common, ...forbidden, ...conflict('Name taken') },
    }),
    async (c) => c.json({ data: await updateOrganization(serviceContext(c), { ...c.req.valid('json'), org: c.req.valid('param').orgId }) }, 200),
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{orgId}',
      operationId: 'organization.delete',
      tags,
      summary: 'Delete the organization with its teams and projects (org:delete, Owner); audit history is kept',
      auth: 'session',
      request: { params: OrgParam },
      responses: { 200: json(data(z.object({ id: z.uuid(), deletedAt: z.iso.datetime() })), 'Deleted'), ...common, ...forbidden },
    }),
    async (c) => c.json({ data: await deleteOrganization(serviceContext(c), c.req.valid('param').orgId) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}/teams',
      operationId: 'organization.team.list',
      tags,
      summary: 'Teams of the organization the caller can read',
      auth: 'session',
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(pageOf(TeamSummary), 'A page, by name'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listOrgTeams(serviceContext(c), { ...q, org: c.req.valid('param').orgId });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}/audit',
      operationId: 'organization.audit.list',
      tags,
      summary: 'Audit log, newest first (org:audit:read)',
      auth: 'session',
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(pageOf(AuditLogEntry), 'A page'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listAuditLog(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}/members',
      operationId: 'organization.member.list',
      tags,
      summary: 'Members with their roles, oldest first',
      auth: 'session',
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(pageOf(Member), 'A page'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMembers(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{orgId}/members/{userId}',
      operationId: 'organization.member.updateRole',
      tags,
      summary: "Change a member's role (org:members:manage; only to and from roles within the caller's own permissions)",
      auth: 'session',
      request: { params: MemberParam, ...body(z.object({ role: RoleInput }).strict().openapi('ChangeMemberRole'), { role: 'Maintainer' }) },
      responses: { 200: json(data(Member), 'The member with the new role'), ...common, ...forbidden, ...conflict('The last Owner cannot be demoted') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await changeRole(serviceContext(c), { target: { org: p.orgId }, userId: p.userId, role: c.req.valid('json').role }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{orgId}/members/{userId}',
      operationId: 'organization.member.remove',
      tags,
      summary: 'Remove a member (org:members:manage), or leave (own user id); their team and project memberships go too',
      auth: 'session',
      request: { params: MemberParam },
      responses: {
        200: json(data(z.object({ userId: z.string(), removed: z.literal(true) })), 'Removed'),
        ...common,
        ...forbidden,
        ...conflict('The last Owner cannot be removed'),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await removeMember(serviceContext(c), { target: { org: p.orgId }, userId: p.userId }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}/roles',
      operationId: 'organization.role.list',
      tags,
      summary: 'Roles of the organization and their permissions',
      auth: 'session',
      request: { params: OrgParam },
      responses: { 200: json(data(z.array(Role)), 'Most powerful first'), ...common },
    }),
    async (c) => c.json({ data: await listRoles(serviceContext(c), { org: c.req.valid('param').orgId }) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/{orgId}/invite',
      operationId: 'organization.invite.create',
      tags,
      summary: 'Invite someone by email (org:members:invite); the code is sent by email only',
      auth: 'session',
      request: { params: OrgParam, ...body(OrgInviteBody, { email: 'grace@example.com', role: 'Member', expiresInDays: 7 }) },
      responses: {
        201: json(data(Invite), 'Invitation created; the email follows'),
        ...common,
        ...inviteMailCap,
        ...forbidden,
        ...conflict('Already a member, or a pending invitation for this email exists'),
      },
    }),
    async (c) => c.json({ data: await createInvite(serviceContext(c), { ...c.req.valid('json'), target: { org: c.req.valid('param').orgId } }) }, 201),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{orgId}/invites',
      operationId: 'organization.invite.list',
      tags,
      summary: 'Invitations of the organization by status, default pending (org:members:invite); never the code',
      auth: 'session',
      request: { params: OrgParam, query: InvitesQuery },
      responses: { 200: json(pageOf(Invite), 'Newest first'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listInvites(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{orgId}/invites/{inviteId}',
      operationId: 'organization.invite.revoke',
      tags,
      summary: 'Revoke a pending (or expired) invitation (org:members:invite); accepting it then answers 410',
      auth: 'session',
      request: { params: InviteParam },
      responses: { 200: json(data(z.object({ id: z.uuid(), status: z.literal('revoked') })), 'Revoked'), ...common, ...forbidden, ...conflict('Already used or revoked') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await revokeInvite(serviceContext(c), { target: { org: p.orgId }, inviteId: p.inviteId }) }, 200);
    },
  );
