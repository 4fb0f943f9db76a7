import { eq } from 'drizzle-orm';
import { projects } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from '../membership/audit';
import { authorize, type ProjectTarget } from '../membership/authz';
import { limitedCaller } from '../membership/caller';
import { githubWebhookLink, newGithubWebhookSecret, type GithubWebhookLink } from './secret';

/**
 * POST /project/:projectId/github/rotate-secret — `project:update`. Mints a new secret for the linked
 * repository (the old one stops verifying at once) and returns it once. 409 when no repository is linked.
 */
export async function rotateGithubWebhookSecret(ctx: ServiceContext, target: ProjectTarget): Promise<GithubWebhookLink> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withTransaction(ctx, async (tx, ctx) => {
    const a = await authorize(ctx, { target, permission: 'project:update', lock: true });
    const repo = a.project.githubRepo;
    if (!repo) throw new AppError('CONFLICT', 'No GitHub repository is linked to this project', { details: { field: 'githubRepo' } });
    const secret = newGithubWebhookSecret();
    await tx.update(projects).set({ githubWebhookSecret: secret, updatedBy: userId }).where(eq(projects.id, a.project.id));
    await audit(ctx, {
      scope: 'project',
      scopeId: a.project.id,
      actorId: userId,
      action: 'project.github_secret_rotate',
      targetType: 'repository',
      targetId: repo,
      changes: { githubRepo: repo, webhookSecret: 'rotated' },
    });
    return githubWebhookLink(ctx.config, repo, secret);
  });
}
