import { eq } from 'drizzle-orm';
import type { Config } from '../../config';
import { projects } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from '../membership/audit';
import { authorize, type ProjectTarget } from '../membership/authz';
import { limitedCaller } from '../membership/caller';

/**
 * Per-project GitHub webhook secrets. Each project that links a repository gets its own HMAC key
 * (projects.github_webhook_secret); a delivery reaches only the projects whose key signed it, so linking
 * somebody else's repository yields nothing (the repository's owner never learns our secret, so they
 * never sign with it). The plaintext is shown once — in the response that minted it — and is never
 * returned by a read, logged, or written to an audit row (audits say `webhookSecret: 'rotated'`).
 */
export interface GithubWebhookLink {
  /** The linked repository, `owner/name`. */
  repo: string;
  /** Paste into the repository's Settings → Webhooks → Secret. Shown only in this response. */
  webhookSecret: string;
  /** Payload URL for the repository's webhook. */
  webhookUrl: string;
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A fresh webhook secret: 32 random bytes (crypto.getRandomValues, 256 bits), base64url (43 characters). */
export function newGithubWebhookSecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

export const githubWebhookUrl = (config: Pick<Config, 'PUBLIC_BASE_URL'>): string => `${config.PUBLIC_BASE_URL.replace(/\/+$/, '')}/webhooks/v1/github`;

export const githubWebhookLink = (config: Pick<Config, 'PUBLIC_BASE_URL'>, repo: string, webhookSecret: string): GithubWebhookLink => ({
  repo,
  webhookSecret,
  webhookUrl: githubWebhookUrl(config),
});

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
