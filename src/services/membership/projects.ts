import { eq } from 'drizzle-orm';
import { projects, type Project } from '../../db/schema';
import { withTransaction, type ServiceContext } from '../context';
import { githubWebhookLink, newGithubWebhookSecret, type GithubWebhookLink } from '../github/secret';
import { audit } from './audit';
import { seedMembership } from './members';
import { authorize, type ProjectAccess, type ProjectTarget, type TeamTarget } from './authz';
import { limitedCaller } from './caller';
import { conflictOn, diff, iso } from './format';
import { assertNameFree, PROJECT_UNIQUE } from './names';
import type { Visibility } from './teams';

export interface ProjectView {
  id: string;
  team: { id: string; name: string; slug: string };
  organization: { id: string; name: string; slug: string };
  name: string;
  slug: string;
  description: string | null;
  website: string | null;
  visibility: Visibility;
  /** Linked GitHub repository, `owner/name` (matched by the GitHub webhook). */
  githubRepo: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  /** The caller's project role (null when they read it through their team/org role or its visibility). */
  role: { id: string; name: string } | null;
  permissions: string[];
}

export interface ProjectFields {
  description?: string | null;
  website?: string | null;
  visibility?: Visibility;
  githubRepo?: string | null;
}

export interface CreateProjectInput extends ProjectFields {
  team: TeamTarget;
  name: string;
  slug: string;
}

export interface UpdateProjectInput extends ProjectFields {
  name?: string;
}


function view(a: Pick<ProjectAccess, 'org' | 'team' | 'projectRole' | 'permissions'>, p: Project): ProjectView {
  return {
    id: p.id,
    team: { id: a.team.id, name: a.team.name, slug: a.team.slug },
    organization: { id: a.org.id, name: a.org.name, slug: a.org.slug },
    name: p.name,
    slug: p.slug,
    description: p.description,
    website: p.website,
    visibility: p.visibility,
    githubRepo: p.githubRepo,
    createdBy: p.createdBy,
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
    role: a.projectRole ? { id: a.projectRole.id, name: a.projectRole.name } : null,
    permissions: [...a.permissions].sort(),
  };
}


// ── GitHub webhook secret (per project, src/services/github/secret.ts) ──
// Setting or changing githubRepo mints a fresh secret, clearing it clears the secret. The plaintext is in
// the create/PATCH answer that minted it (`github`) and nowhere else: not in reads, logs or audit rows.

/** Create/PATCH answer: the project, plus `github` when this request minted a webhook secret. */
export type ProjectWriteView = ProjectView & { github?: GithubWebhookLink };

const withGithub = (ctx: ServiceContext, v: ProjectView, webhookSecret: string | null): ProjectWriteView =>
  webhookSecret && v.githubRepo ? { ...v, github: githubWebhookLink(ctx.config, v.githubRepo, webhookSecret) } : v;

/** POST /project — `team:projects:create` on the team; the creator becomes the project's Owner. */
export async function createProject(ctx: ServiceContext, input: CreateProjectInput): Promise<ProjectWriteView> {
  const userId = await limitedCaller(ctx, 'orgCreate');
  return withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target: input.team, permission: 'team:projects:create', lockHierarchy: true });
    await assertNameFree(ctx, { level: 'project', parentId: a.team.id, slug: input.slug, name: input.name });
    const webhookSecret = input.githubRepo ? newGithubWebhookSecret() : null;
    const [project] = await tx
      .insert(projects)
      .values({
        teamId: a.team.id,
        name: input.name,
        slug: input.slug,
        description: input.description ?? null,
        website: input.website ?? null,
        visibility: input.visibility ?? 'INTERNAL',
        githubRepo: input.githubRepo ?? null,
        githubWebhookSecret: webhookSecret,
        createdBy: userId,
      })
      .returning();
    await seedMembership(ctx, { scope: 'project', scopeId: project!.id, ownerId: userId });
    const created = { name: project!.name, slug: project!.slug, visibility: project!.visibility, githubRepo: project!.githubRepo };
    await audit(ctx, [
      { scope: 'project', scopeId: project!.id, actorId: userId, action: 'project.create', changes: { after: created, ...(webhookSecret ? { webhookSecret: 'generated' } : {}) } },
      { scope: 'team', scopeId: a.team.id, actorId: userId, action: 'project.create', targetType: 'project', targetId: project!.id, changes: { after: created } },
    ]);
    return withGithub(ctx, view(await authorize(ctx, { target: { project: project!.id }, permission: 'project:read' }), project!), webhookSecret);
  }).catch((err) => conflictOn(err, PROJECT_UNIQUE));
}

/** GET /project/:projectId — whoever can read the project. */
export async function getProject(ctx: ServiceContext, target: ProjectTarget): Promise<ProjectView> {
  await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx, { target, permission: 'project:read' });
  return view(a, a.project);
}

/** PATCH /project/:projectId — `project:update`. `githubRepo: null` unlinks the repository. */
export async function updateProject(ctx: ServiceContext, input: UpdateProjectInput & { target: ProjectTarget }): Promise<ProjectWriteView> {
  const { target, ...patch } = input;
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target, permission: 'project:update', lock: true });
    const changes = diff(a.project as unknown as Record<string, unknown>, patch as Record<string, unknown>);
    if (!changes) return view(a, a.project);
    if (changes.after.name !== undefined && String(changes.after.name).toLowerCase() !== a.project.name.toLowerCase()) {
      await assertNameFree(ctx, { level: 'project', parentId: a.team.id, name: String(changes.after.name), exceptId: a.project.id });
    }
    const relinked = changes.after.githubRepo !== undefined; // GitHub webhook secret: fresh on a new repository, cleared on unlink
    const webhookSecret = relinked && changes.after.githubRepo ? newGithubWebhookSecret() : null;
    const [project] = await tx
      .update(projects)
      .set({ ...(changes.after as Partial<Project>), ...(relinked ? { githubWebhookSecret: webhookSecret } : {}), updatedBy: userId })
      .where(eq(projects.id, a.project.id))
      .returning();
    const audited = relinked ? { ...changes, webhookSecret: webhookSecret ? 'rotated' : 'cleared' } : changes;
    await audit(ctx, { scope: 'project', scopeId: project!.id, actorId: userId, action: 'project.update', changes: audited });
    return withGithub(ctx, view(await authorize(ctx, { target: { project: project!.id }, permission: 'project:read' }), project!), webhookSecret);
  }).catch((err) => conflictOn(err, PROJECT_UNIQUE));
}

/** DELETE /project/:projectId — `project:delete` (project Owner, team Owner/Admin, org Owner/Co-Owner). Soft delete. */
export async function deleteProject(ctx: ServiceContext, target: ProjectTarget): Promise<{ id: string; deletedAt: string }> {
  const userId = await limitedCaller(ctx, 'orgDelete');
  return withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target, permission: 'project:delete', lock: true });
    const at = new Date();
    await tx.update(projects).set({ deletedAt: at, updatedBy: userId }).where(eq(projects.id, a.project.id));
    const details = { before: { name: a.project.name, slug: a.project.slug } };
    await audit(ctx, [
      { scope: 'project', scopeId: a.project.id, actorId: userId, action: 'project.delete', level: 'WARN', changes: details },
      { scope: 'team', scopeId: a.team.id, actorId: userId, action: 'project.delete', level: 'WARN', targetType: 'project', targetId: a.project.id, changes: details },
    ]);
    return { id: a.project.id, deletedAt: iso(at) };
  });
}
