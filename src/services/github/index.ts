import { and, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction } from '../../db/client';
import { projectAuditLogs, projects } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';

/**
 * GitHub webhook deliveries (signature already verified by the route). `push` (any branch) and
 * `release` (action published) for a repository linked to a project (projects.github_repo, matched
 * case-insensitively) become a row in that project's audit log (actor null: GitHub is not a user) and
 * a `project.github_activity` event that notifies the project's members. Nothing is ever executed
 * (original defect #6 ran a deploy script).
 */
export type GithubOutcome = 'pong' | 'recorded' | 'ignored';

export interface GithubResult {
  event: string;
  outcome: GithubOutcome;
  /** Projects the delivery was recorded on. */
  projects: number;
}

const Repository = z.object({ full_name: z.string().min(3).max(200) });

const PushPayload = z.object({
  ref: z.string().max(300),
  deleted: z.boolean().optional(),
  compare: z.string().max(1000).optional(),
  repository: Repository,
  commits: z.array(z.object({ id: z.string() }).loose()).max(2048).default([]),
  head_commit: z
    .object({ id: z.string().max(100), message: z.string(), author: z.object({ name: z.string().max(300).optional() }).loose().optional() })
    .loose()
    .nullable()
    .optional(),
  pusher: z.object({ name: z.string().max(300).optional() }).loose().optional(),
});

const ReleasePayload = z.object({
  action: z.string().max(50),
  repository: Repository,
  release: z
    .object({ tag_name: z.string().max(300), name: z.string().max(1000).nullable().optional(), html_url: z.string().max(1000).optional(), prerelease: z.boolean().optional() })
    .loose(),
});

/** Only links to github.com are kept (they end up as a notification's action URL). */
const githubUrl = (url: string | undefined): string | null => {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && u.hostname === 'github.com' ? u.toString() : null;
  } catch {
    return null;
  }
};

const truncate = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** The first line of a commit message, at most 200 characters. */
const headline = (message: string) => truncate(message.split(/\r?\n/, 1)[0]!.trim(), 200);

function parse<T extends z.ZodType>(schema: T, payload: unknown): z.infer<T> {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new AppError('VALIDATION_ERROR', 'Unexpected webhook payload', {
      details: { issues: parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return parsed.data;
}

interface Activity {
  action: 'github.push' | 'github.release';
  repository: string;
  changes: Record<string, unknown>;
}

function toActivity(event: string, payload: unknown, deliveryId: string): Activity | null {
  if (event === 'push') {
    const p = parse(PushPayload, payload);
    if (p.deleted || !p.ref.startsWith('refs/heads/')) return null; // branch deletions and tag pushes are not activity
    return {
      action: 'github.push',
      repository: p.repository.full_name,
      changes: {
        deliveryId,
        branch: p.ref.slice('refs/heads/'.length),
        commitCount: p.commits.length,
        headCommit: p.head_commit ? { id: p.head_commit.id, message: headline(p.head_commit.message), author: p.head_commit.author?.name ?? null } : null,
        pusher: p.pusher?.name ?? null,
        url: githubUrl(p.compare),
      },
    };
  }
  if (event === 'release') {
    const p = parse(ReleasePayload, payload);
    if (p.action !== 'published') return null;
    return {
      action: 'github.release',
      repository: p.repository.full_name,
      changes: {
        deliveryId,
        tag: p.release.tag_name,
        name: p.release.name ? truncate(p.release.name, 200) : null,
        prerelease: p.release.prerelease ?? false,
        url: githubUrl(p.release.html_url),
      },
    };
  }
  return null;
}

export async function applyGithubEvent(ctx: ServiceContext, input: { event: string; deliveryId: string; payload: unknown }): Promise<GithubResult> {
  if (input.event === 'ping') return { event: 'ping', outcome: 'pong', projects: 0 };
  const activity = toActivity(input.event, input.payload, input.deliveryId);
  if (!activity) return { event: input.event, outcome: 'ignored', projects: 0 };
  return ctx.db.write.transaction(async (tx) => {
    const linked = await tx
      .select({ id: projects.id })
      .from(projects)
      .where(and(sql`lower(${projects.githubRepo}) = lower(${activity.repository})`, isNull(projects.deletedAt)));
    for (const project of linked) {
      const [row] = await tx
        .insert(projectAuditLogs)
        .values({
          projectId: project.id,
          actorId: null,
          action: activity.action,
          targetType: 'repository',
          targetId: activity.repository,
          level: 'INFO',
          changes: activity.changes,
        })
        .returning({ id: projectAuditLogs.id });
      await emit(tx, ctx.events, 'project.github_activity', { projectId: project.id, auditLogId: row!.id });
    }
    return { event: input.event, outcome: linked.length ? 'recorded' : 'ignored', projects: linked.length };
  });
}

/** Used by the queue handler: the audit row of one activity. */
export async function githubActivity(tx: Transaction, auditLogId: string) {
  const [row] = await tx
    .select({ projectId: projectAuditLogs.projectId, action: projectAuditLogs.action, targetId: projectAuditLogs.targetId, changes: projectAuditLogs.changes, projectName: projects.name })
    .from(projectAuditLogs)
    .innerJoin(projects, eq(projects.id, projectAuditLogs.projectId))
    .where(eq(projectAuditLogs.id, auditLogId));
  return row ?? null;
}
