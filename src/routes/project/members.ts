import { createRouter, serviceContext } from '../../router';
import { body, data, json, paged, pageOf, Paging, route, UserId, z } from '../kit';
import { addProjectMember, changeRole, listMembers, listRoles, removeMember } from '../../services/membership';
import { common, conflict, forbidden, IdOrSlug, Member, Role, RoleInput } from '../organization/schemas';

// Project members and roles, mounted on /api/v1/project next to the project routes (./index.ts).
// Addressing as there: `:projectId` is the project's uuid, or its slug with `?teamId=` (team uuid, or team
// slug with `&orgId=`).

const ProjectParam = z.object({ projectId: IdOrSlug.openapi({ param: { name: 'projectId', in: 'path' }, description: 'Project id, or slug with ?teamId=' }) });
const ProjectQualifiers = {
  teamId: IdOrSlug.optional().openapi({ description: "The project's team (id, or slug with orgId); required when the project is given by slug" }),
  orgId: IdOrSlug.optional(),
};
const ProjectQuery = z.object(ProjectQualifiers);
const ProjectPagedQuery = Paging.extend(ProjectQualifiers);
const MemberParam = ProjectParam.extend({ userId: UserId.openapi({ param: { name: 'userId', in: 'path' } }) });
const target = (projectId: string, q: { teamId?: string; orgId?: string }) => ({ project: projectId, team: q.teamId, org: q.orgId });

const ProjectRoleInput = RoleInput.openapi({ description: 'A role of the project, by id or name (default roles: Owner, Editor, Viewer)' });
const AddProjectMember = z
  .object({ userId: UserId.openapi({ description: "A member of the project's team" }), role: ProjectRoleInput })
  .strict()
  .openapi('AddProjectMember', { description: "Share the project with a member of its team; the role's permissions must all be held by the caller" });
const ChangeProjectMemberRole = z.object({ role: ProjectRoleInput }).strict().openapi('ChangeProjectMemberRole');

const tags = ['project'];

export const projectMemberRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/{projectId}/members',
      operationId: 'project.member.list',
      tags,
      summary: 'Members of the project with their project roles (whoever can read it)',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectPagedQuery },
      responses: { 200: json(pageOf(Member), 'Oldest first'), ...common },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const r = await listMembers(serviceContext(c), { ...q, target: target(c.req.valid('param').projectId, q) });
      return paged(c, r, q);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/{projectId}/members',
      operationId: 'project.member.add',
      tags,
      summary: 'Add a member of the team to the project (project:members:manage; only roles within the caller’s own permissions)',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery, ...body(AddProjectMember, { userId: 'user_2abcDEF', role: 'Editor' }) },
      responses: {
        201: json(data(Member), 'Added'),
        ...common,
        ...forbidden,
        ...conflict('Already a member of the project'),
      },
    }),
    async (c) => c.json({ data: await addProjectMember(serviceContext(c), { ...c.req.valid('json'), target: target(c.req.valid('param').projectId, c.req.valid('query')) }) }, 201),
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{projectId}/members/{userId}',
      operationId: 'project.member.updateRole',
      tags,
      summary: "Change a project member's role (project:members:manage; only to and from roles within the caller's own permissions)",
      auth: 'session',
      request: { params: MemberParam, query: ProjectQuery, ...body(ChangeProjectMemberRole, { role: 'Viewer' }) },
      responses: { 200: json(data(Member), 'The member with the new role'), ...common, ...forbidden, ...conflict('The last Owner of the project cannot be demoted') },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await changeRole(serviceContext(c), { target: target(p.projectId, c.req.valid('query')), userId: p.userId, role: c.req.valid('json').role }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{projectId}/members/{userId}',
      operationId: 'project.member.remove',
      tags,
      summary: 'Remove a project member (project:members:manage), or leave (own user id); team membership stays',
      auth: 'session',
      request: { params: MemberParam, query: ProjectQuery },
      responses: {
        200: json(data(z.object({ userId: z.string(), removed: z.literal(true) })), 'Removed'),
        ...common,
        ...forbidden,
        ...conflict('The last Owner of the project cannot be removed or leave'),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      return c.json({ data: await removeMember(serviceContext(c), { target: target(p.projectId, c.req.valid('query')), userId: p.userId }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{projectId}/roles',
      operationId: 'project.role.list',
      tags,
      summary: 'Roles of the project and their permissions (whoever can read it)',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery },
      responses: { 200: json(data(z.array(Role)), 'Most powerful first'), ...common },
    }),
    async (c) => c.json({ data: await listRoles(serviceContext(c), target(c.req.valid('param').projectId, c.req.valid('query'))) }, 200),
  );
