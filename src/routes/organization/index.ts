import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
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
import {
  atLeastOne,
  AuditLogEntry,
  body,
  CodeBody,
  common,
  conflict,
  data,
  Email,
  err,
  ExpiresInDays,
  forbidden,
  IdOrSlug,
  Invite,
  inviteMailCap,
  InviteStatusQuery,
  json,
  list,
  Member,
  Name,
  Paging,
  Profile,
  Role,
  RoleInput,
  RoleRefOut,
  RoleWithPermissions,
  security,
  Slug,
  Visibility,
} from './schemas';

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
  .openapi('Organization');

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
const MemberParam = OrgParam.extend({ userId: z.string().min(1).max(255).openapi({ param: { name: 'userId', in: 'path' } }) });

const InviteParam = OrgParam.extend({ inviteId: z.uuid().openapi({ param: { name: 'inviteId', in: 'path' } }) });
const InvitesQuery = Paging.extend({ status: InviteStatusQuery });

const OrgInviteBody = z
  .object({ email: Email, role: RoleInput.optional(), expiresInDays: ExpiresInDays })
  .strict()
  .openapi('CreateOrganizationInvite');

const tags = ['organization'];
const auth = { security, middleware: requireUser };

export const organizationRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags,
      summary: "The caller's organizations, with their role and member/team counts",
      ...auth,
      request: { query: Paging },
      responses: { 200: json(list(Organization), 'A page, by name'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMyOrganizations(serviceContext(c), q);
      return c.json({ data: r.items, meta: { total: r.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags,
      summary: 'Create an organization (the caller becomes its Owner)',
      ...auth,
      request: body(CreateOrganization),
      responses: {
        201: json(data(Organization), 'Created with the default roles Owner, Co-Owner, Maintainer, Member'),
        ...common,
        ...conflict('Slug taken (details.suggestion holds a free slug-N) or name taken'),
      },
    }),
    async (c) => c.json({ data: await createOrganization(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/accept-invite',
      tags,
      summary: 'Accept an organization invitation sent to the caller’s email',
      ...auth,
      request: body(CodeBody),
      responses: {
        200: json(data(z.object({ organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }), role: RoleRefOut })), 'Joined'),
        ...common,
        403: err('The invitation was sent to a different email address'),
        ...conflict('Already a member'),
        410: err('Expired, used or revoked, or void: its inviter may no longer invite to this role (details.status)'),
      },
    }),
    async (c) => c.json({ data: await acceptInvite(serviceContext(c), { scope: 'organization', code: c.req.valid('json').code }) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{orgId}',
      tags,
      summary: 'One organization (members only)',
      ...auth,
      request: { params: OrgParam },
      responses: { 200: json(data(Organization), 'The organization'), ...common },
    }),
    async (c) => c.json({ data: await getOrganization(serviceContext(c), c.req.valid('param').orgId) }, 200),
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/{orgId}',
      tags,
      summary: 'Update name, visibility, join setting, time zone or profile fields (org:update)',
      ...auth,
      request: { params: OrgParam, ...body(UpdateOrganization) },
      responses: { 200: json(data(Organization), 'Updated'), ...common, ...forbidden, ...conflict('Name taken') },
    }),
    async (c) => c.json({ data: await updateOrganization(serviceContext(c), { ...c.req.valid('json'), org: c.req.valid('param').orgId }) }, 200),
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/{orgId}',
      tags,
      summary: 'Delete the organization with its teams and projects (org:delete, Owner); audit history is kept',
      ...auth,
      request: { params: OrgParam },
      responses: { 200: json(data(z.object({ id: z.uuid(), deletedAt: z.iso.datetime() })), 'Deleted'), ...common, ...forbidden },
    }),
    async (c) => c.json({ data: await deleteOrganization(serviceContext(c), c.req.valid('param').orgId) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{orgId}/teams',
      tags,
      summary: 'Teams of the organization the caller can read',
      ...auth,
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(list(TeamSummary), 'A page, by name'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listOrgTeams(serviceContext(c), { ...q, org: c.req.valid('param').orgId });
      return c.json({ data: r.items, meta: { total: r.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{orgId}/audit',
      tags,
      summary: 'Audit log, newest first (org:audit:read)',
      ...auth,
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(list(AuditLogEntry), 'A page'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listAuditLog(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return c.json({ data: r.items, meta: { total: r.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{orgId}/members',
      tags,
      summary: 'Members with their roles, oldest first',
      ...auth,
      request: { params: OrgParam, query: Paging },
      responses: { 200: json(list(Member), 'A page'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMembers(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return c.json({ data: r.items, meta: { total: r.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/{orgId}/members/{userId}',
      tags,
      summary: "Change a member's role (org:members:manage; only to and from roles within the caller's own permissions)",
      ...auth,
      request: { params: MemberParam, ...body(z.object({ role: RoleInput }).strict().openapi('ChangeMemberRole')) },
      responses: { 200: json(data(Member), 'The member with the new role'), ...common, ...forbidden, ...conflict('The last Owner cannot be demoted') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await changeRole(serviceContext(c), { target: { org: p.orgId }, userId: p.userId, role: c.req.valid('json').role }) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/{orgId}/members/{userId}',
      tags,
      summary: 'Remove a member (org:members:manage), or leave (own user id); their team and project memberships go too',
      ...auth,
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
    createRoute({
      method: 'get',
      path: '/{orgId}/roles',
      tags,
      summary: 'Roles of the organization and their permissions',
      ...auth,
      request: { params: OrgParam },
      responses: { 200: json(data(z.array(Role)), 'Most powerful first'), ...common },
    }),
    async (c) => c.json({ data: await listRoles(serviceContext(c), { org: c.req.valid('param').orgId }) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{orgId}/invite',
      tags,
      summary: 'Invite someone by email (org:members:invite); the code is sent by email only',
      ...auth,
      request: { params: OrgParam, ...body(OrgInviteBody) },
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
    createRoute({
      method: 'get',
      path: '/{orgId}/invites',
      tags,
      summary: 'Invitations of the organization by status, default pending (org:members:invite); never the code',
      ...auth,
      request: { params: OrgParam, query: InvitesQuery },
      responses: { 200: json(list(Invite), 'Newest first'), ...common, ...forbidden },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listInvites(serviceContext(c), { ...q, target: { org: c.req.valid('param').orgId } });
      return c.json({ data: r.items, meta: { total: r.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/{orgId}/invites/{inviteId}',
      tags,
      summary: 'Revoke a pending (or expired) invitation (org:members:invite); accepting it then answers 410',
      ...auth,
      request: { params: InviteParam },
      responses: { 200: json(data(z.object({ id: z.uuid(), status: z.literal('revoked') })), 'Revoked'), ...common, ...forbidden, ...conflict('Already used or revoked') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await revokeInvite(serviceContext(c), { target: { org: p.orgId }, inviteId: p.inviteId }) }, 200);
    },
  );
