import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { organizations, projectAuditLogs, projects, teams } from '../../db/schema';
import { emit } from '../../events/outbox';
import { timingSafeEqual, verifyHmacSha256Hex } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { withoutNul } from '../../lib/text';
import { withTransaction, type ServiceContext } from '../context';
import { claimWebhookDelivery } from '../webhooks';
import { audit } from '../membership/audit';
import { newGithubWebhookSecret } from './secret';

export * from './rotate-secret';
export * from './secret';

/**
 * GitHub webhook deliveries. Each linked project has its own webhook secret (./secret.ts); a delivery
 * is verified against the secrets of the projects linked to its repository and reaches only those whose
 * secret signed it — linking someone else's repository never yields their activity. `push` (any branch)
 * and `release` (action published) become a row in each verified project's audit log (actor null: GitHub
 * is not a user) and a `project.github_activity` event that notifies the project's members. Nothing is
 * ever executed (a webhook is untrusted input: it may only record and notify).
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

const REPO_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** `repository.full_name` of a delivery, read before its signature is verified (used only to pick candidate secrets). */
function repositoryOf(payload: unknown): string | null {
  const repo = (payload as { repository?: { full_name?: unknown } } | null)?.repository?.full_name;
  return typeof repo === 'string' && repo.length <= 200 && REPO_RE.test(repo) ? repo : null;
}

/** Secrets shorter than this never verify anything (the column's check constraint agrees: a short secret is guessable). */
const MIN_SECRET_LENGTH = 32;

const rejected = () => new AppError('AUTH_REQUIRED', 'Invalid webhook signature');

export interface SignedDelivery {
  /** The raw request body: the signature covers these exact bytes. */
  body: Uint8Array;
  /** Hex digest from `X-Hub-Signature-256: sha256=<hex>`. */
  signature: string;
  payload: unknown;
}

/** Who signed a delivery: its repository and, per linked project whose secret verified it, that secret. */
export interface GithubSigners {
  repository: string;
  secrets: Map<string, string>;
}

export interface GithubDelivery {
  event: string;
  /** X-GitHub-Delivery: the same on every redelivery. */
  deliveryId: string;
  payload: unknown;
  signers: GithubSigners;
}

/** The live projects (project, team and organization not deleted) linked to `repository` that hold a usable secret. */
const linkedTo = (repository: string) =>
  and(
    sql`lower(${projects.githubRepo}) = lower(${repository})`,
    isNull(projects.deletedAt),
    isNotNull(projects.githubWebhookSecret),
    sql`length(${projects.githubWebhookSecret}) >= ${MIN_SECRET_LENGTH}`,
  );

/**
 * Verify a GitHub delivery, BEFORE any transaction is opened, so a forged or unsigned delivery costs one
 * plain read and never takes a row lock or a pooled transaction:
 * 1. the live projects linked to `repository.full_name` (case-insensitively) that hold a webhook secret
 *    are read, outside any transaction;
 * 2. the delivery is kept only for the candidates whose secret verifies the signature (constant time);
 *    none → 401, exactly as for a forged signature or an unlinked repository (the answer never tells
 *    whether a repository is linked, and an unlinked one costs the same one HMAC).
 */
export async function githubSigners(ctx: ServiceContext, delivery: SignedDelivery): Promise<GithubSigners> {
  const repository = repositoryOf(delivery.payload);
  if (!repository) throw rejected(); // no repository (e.g. an organization hook): no project secret can have signed it
  const candidates = await ctx.db.write
    .select({ id: projects.id, secret: projects.githubWebhookSecret })
    .from(projects)
    .innerJoin(teams, and(eq(teams.id, projects.teamId), isNull(teams.deletedAt)))
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .where(linkedTo(repository));
  const secrets = new Map<string, string>();
  for (const c of candidates) {
    if (c.secret && c.secret.length >= MIN_SECRET_LENGTH && (await verifyHmacSha256Hex(c.secret, delivery.body, delivery.signature))) secrets.set(c.id, c.secret);
  }
  if (!candidates.length) await verifyHmacSha256Hex(newGithubWebhookSecret(), delivery.body, delivery.signature);
  if (!secrets.size) throw rejected();
  return { repository, secrets };
}

/**
 * Apply one verified GitHub delivery (see `githubSigners`), in one transaction:
 * 1. the verified projects are read again and locked FOR SHARE, keeping those still linked under the very
 *    secret that verified (an unlink or a rotation in between wins → 401);
 * 2. the delivery id is claimed (webhook_deliveries): a replay is `duplicate`; a failure further down
 *    rolls the claim back, so GitHub's redelivery is processed;
 * 3. `ping` → pong; push/release → an audit row and a `project.github_activity` event per verified project.
 */
export async function receiveGithubDelivery(ctx: ServiceContext, input: GithubDelivery): Promise<GithubResult | { event: string; outcome: 'duplicate'; projects: 0 }> {
  const { repository, secrets } = input.signers;
  return withTransaction(ctx, async (tx, ctx) => {
    const live = await tx
      .select({ id: projects.id, secret: projects.githubWebhookSecret })
      .from(projects)
      .innerJoin(teams, and(eq(teams.id, projects.teamId), isNull(teams.deletedAt)))
      .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
      .where(and(inArray(projects.id, [...secrets.keys()]), linkedTo(repository)))
      .orderBy(projects.id)
      .for('share', { of: projects });
    const verified = live.filter((p) => p.secret !== null && timingSafeEqual(p.secret, secrets.get(p.id)!)).map((p) => p.id);
    if (!verified.length) throw rejected();

    if (!(await claimWebhookDelivery(ctx, { source: 'github', deliveryId: input.deliveryId }))) return { event: input.event, outcome: 'duplicate' as const, projects: 0 as const };

    if (input.event === 'ping') return { event: 'ping', outcome: 'pong' as const, projects: 0 };
    // Commit messages and names are anyone's text and may hold U+0000, which the audit row's jsonb refuses.
    const activity = toActivity(input.event, withoutNul(input.payload), input.deliveryId);
    if (!activity) return { event: input.event, outcome: 'ignored' as const, projects: 0 };
    for (const projectId of verified) {
      const [auditLogId] = await audit(ctx, {
        scope: 'project',
        scopeId: projectId,
        actorId: null,
        action: activity.action,
        targetType: 'repository',
        targetId: activity.repository,
        level: 'INFO',
        changes: activity.changes,
      });
      await emit(tx, ctx.events, 'project.github_activity', { projectId, auditLogId: auditLogId! });
    }
    return { event: input.event, outcome: 'recorded' as const, projects: verified.length };
  });
}

/** Used by the queue handler: the audit row of one activity. */
export async function githubActivity(ctx: ServiceContext, auditLogId: string) {
  const [row] = await ctx.db.write
    .select({ projectId: projectAuditLogs.projectId, action: projectAuditLogs.action, targetId: projectAuditLogs.targetId, changes: projectAuditLogs.changes, projectName: projects.name })
    .from(projectAuditLogs)
    .innerJoin(projects, eq(projects.id, projectAuditLogs.projectId))
    .where(eq(projectAuditLogs.id, auditLogId));
  return row ?? null;
}
