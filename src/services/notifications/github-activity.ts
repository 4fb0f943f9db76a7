import { and, eq, isNull } from 'drizzle-orm';
import { projectMembers, settings, users } from '../../db/schema';
import type { ServiceContext } from '../context';
import { githubActivity } from '../github';
import { resolveSettings } from '../settings/schema';
import { createNotification } from './create';

/**
 * Queue side of `project.github_activity` (a push or release on a linked repository): an UPDATE
 * notification to each active member of the project who wants team activity.
 */
export async function notifyGithubActivity(ctx: ServiceContext, input: { projectId: string; auditLogId: string }): Promise<void> {
  const { projectId, auditLogId } = input;
  const activity = await githubActivity(ctx, auditLogId);
  if (!activity || activity.projectId !== projectId) return;
  const c = (activity.changes ?? {}) as Record<string, unknown>;
  const repo = activity.targetId ?? 'the linked repository';
  let title: string;
  let message: string;
  if (activity.action === 'github.release') {
    title = `New release of ${activity.projectName}`;
    message = `${String(c.tag ?? 'A release')} was published on ${repo}.`;
  } else {
    const n = Number(c.commitCount ?? 0);
    const head = (c.headCommit as { message?: string } | null)?.message;
    title = `New push to ${activity.projectName}`;
    message = `${n} commit${n === 1 ? '' : 's'} pushed to ${String(c.branch ?? 'a branch')} of ${repo}${head ? `: ${head}` : '.'}`;
  }
  const members = await ctx.db.write
    .select({ userId: projectMembers.userId, settings: settings.settings })
    .from(projectMembers)
    .innerJoin(users, and(eq(users.id, projectMembers.userId), isNull(users.deletedAt)))
    .leftJoin(settings, eq(settings.userId, projectMembers.userId))
    .where(eq(projectMembers.projectId, projectId));
  for (const m of members) {
    if (!resolveSettings(m.settings).notifications.teamActivity) continue;
    await createNotification(ctx, {
      userId: m.userId,
      type: 'UPDATE',
      title,
      message,
      actionUrl: typeof c.url === 'string' ? c.url : null,
      actionLabel: typeof c.url === 'string' ? 'View on GitHub' : null,
      metadata: { projectId, auditLogId, action: activity.action },
    });
  }
}
