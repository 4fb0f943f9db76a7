import { createRouter, serviceContext } from '../../router';
import { body, data, httpUrl, json, route, text, z } from '../kit';
import { rotateGithubWebhookSecret } from '../../services/github';
import { createProject, deleteProject, getProject, updateProject } from '../../services/membership';
import { atLeastOne, common, conflict, forbidden, IdOrSlug, Name, RoleRefOut, Slug, Visibility } from '../organization/schemas';

// Addressing: `:projectId` is the project's uuid, or its slug together with `?teamId=` (team uuid, or team
// slug with `&orgId=`) — a project slug is only unique inside its team.

const GithubRepo = z
  .string()
  .trim()
  .max(200)
  .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'owner/name')
  .openapi({ description: 'GitHub repository as owner/name; its push/release webhooks become project activity', example: 'fairarena/api' });

const Project = z
  .object({
    id: z.uuid(),
    team: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
    organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
    name: z.string(),
    slug: z.string(),
    description: z.string().nullable(),
    website: z.string().nullable(),
    visibility: Visibility,
    githubRepo: z.string().nullable(),
    createdBy: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    role: RoleRefOut.nullable().openapi({ description: "The caller's project role, if a member" }),
    permissions: z.array(z.string()).openapi({ description: "The caller's effective permissions on the project" }),
  })
  .openapi('Project');

// GitHub webhook secret: shown once, in the create/PATCH answer that set or changed githubRepo and by rotate-secret.
const GithubWebhook = z
  .object({
    repo: z.string().openapi({ description: 'The linked repository, owner/name' }),
    webhookSecret: z.string().openapi({ description: "Paste into the repository's Settings → Webhooks → Secret. Shown only in this response; GET never returns it" }),
    webhookUrl: z.url().openapi({ description: "Payload URL for the repository's webhook (content type application/json)" }),
  })
  .openapi('ProjectGithubWebhook');
const ProjectWritten = Project.extend({
  github: GithubWebhook.optional().openapi({ description: 'Present only when this request linked or changed githubRepo: its fresh webhook secret' }),
}).openapi('ProjectWritten');
const noStore = { 'Cache-Control': 'private, no-store' };

const Fields = {
  description: text().trim().max(500).nullable().optional(),
  website: httpUrl(2048).nullable().optional(),
  visibility: Visibility.optional(),
  githubRepo: GithubRepo.nullable().optional(),
};

const CreateProject = z
  .object({
    teamId: IdOrSlug.openapi({ description: 'Team id, or slug with orgId' }),
    orgId: IdOrSlug.optional(),
    name: Name,
    slug: Slug,
    ...Fields,
  })
  .strict()
  .openapi('CreateProject', { description: 'Needs team:projects:create on the team; visibility defaults to INTERNAL' });
const UpdateProject = z
  .object({ name: Name.optional(), ...Fields })
  .strict()
  .refine(atLeastOne, 'nothing to update')
  .openapi('UpdateProject', { description: 'githubRepo: null unlinks the repository' });

const ProjectParam = z.object({ projectId: IdOrSlug.openapi({ param: { name: 'projectId', in: 'path' }, description: 'Project id, or slug with ?teamId=' }) });
const ProjectQuery = z.object({
  teamId: IdOrSlug.optional().openapi({ description: "The project's team (id, or slug with orgId); required when the project is given by slug" }),
  orgId: IdOrSlug.optional(),
});
const target = (projectId: string, q: { teamId?: string; orgId?: string }) => ({ project: projectId, team: q.teamId, org: q.orgId });

const tags = ['project'];

export const projectRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'project.create',
      tags,
      summary: 'Create a project in a team (team:projects:create); the caller becomes its Owner',
      auth: 'session',
      request: body(CreateProject, { teamId: 'platform', orgId: 'acme-labs', name: 'Scoreboard', slug: 'scoreboard', githubRepo: 'acme-labs/scoreboard' }),
      responses: { 201: json(data(ProjectWritten), 'Created with the roles Owner, Editor, Viewer'), ...common, ...forbidden, ...conflict('Name or slug taken in the team') },
    }),
    async (c) => {
      const { teamId, orgId, ...input } = c.req.valid('json');
      return c.json({ data: await createProject(serviceContext(c), { team: { team: teamId, org: orgId }, ...input }) }, 201, noStore);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/{projectId}',
      operationId: 'project.get',
      tags,
      summary: 'One project (whoever can read it)',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery },
      responses: { 200: json(data(Project), 'The project'), ...common },
    }),
    async (c) => c.json({ data: await getProject(serviceContext(c), target(c.req.valid('param').projectId, c.req.valid('query'))) }, 200),
  )
  .openapi(
    route({
      method: 'patch',
      path: '/{projectId}',
      operationId: 'project.update',
      tags,
      summary: 'Update the project (project:update)',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery, ...body(UpdateProject, { description: 'Live scores for the finals', visibility: 'PUBLIC' }) },
      responses: { 200: json(data(ProjectWritten), 'Updated'), ...common, ...forbidden, ...conflict('Name taken in the team') },
    }),
    async (c) => c.json({ data: await updateProject(serviceContext(c), { ...c.req.valid('json'), target: target(c.req.valid('param').projectId, c.req.valid('query')) }) }, 200, noStore),
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{projectId}',
      operationId: 'project.delete',
      tags,
      summary: 'Delete the project (project:delete); audit history is kept',
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery },
      responses: { 200: json(data(z.object({ id: z.uuid(), deletedAt: z.iso.datetime() })), 'Deleted'), ...common, ...forbidden },
    }),
    async (c) => c.json({ data: await deleteProject(serviceContext(c), target(c.req.valid('param').projectId, c.req.valid('query'))) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/{projectId}/github/rotate-secret',
      operationId: 'project.github.rotateSecret',
      tags,
      summary: "Rotate the linked repository's webhook secret (project:update); the new secret is shown once and the old one stops working",
      auth: 'session',
      request: { params: ProjectParam, query: ProjectQuery },
      responses: { 200: json(data(GithubWebhook), 'The new secret'), ...common, ...forbidden, ...conflict('No repository linked') },
    }),
    async (c) => c.json({ data: await rotateGithubWebhookSecret(serviceContext(c), target(c.req.valid('param').projectId, c.req.valid('query'))) }, 200, noStore),
  );
