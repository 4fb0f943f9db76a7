import { eq } from 'drizzle-orm';
import type { Env } from '../config';
import { loadConfig } from '../config';
import { openServiceContext, type ServiceContext } from '../services/context';
import { jobRuns } from '../db/schema';
import { relayOutbox } from '../events/outbox';
import { describeError, log, stackFrames } from '../lib/log';
import { runInSpan, startSpan } from '../lib/trace';
import { dailyCleanup } from './cleanup';
import { weeklyFeedback } from './weekly-feedback';

/** Outbox rows older than this were not relayed by their request (crash, queue hiccup): sweep them. */
export const SWEEP_AFTER_MS = 30_000;

/** A job gets the cron's scheduled time as "now" (tests control the clock through it). */
type Job = (ctx: ServiceContext, now: Date) => Promise<Record<string, number>>;

interface JobSpec {
  run: Job;
  /** Recorded in job_runs (running → succeeded | failed, with counts). The minutely sweeper is not. */
  recorded: boolean;
}

/** Relay batches until the backlog is gone or the time box is spent (the next tick continues). */
async function sweepOutbox({ env, db }: ServiceContext): Promise<Record<string, number>> {
  const deadline = Date.now() + SWEEP_TIME_BOX_MS;
  let relayed = 0;
  for (;;) {
    const n = await relayOutbox(db.write, env, { olderThanMs: SWEEP_AFTER_MS });
    relayed += n;
    if (n === 0 || Date.now() > deadline) return { relayed };
  }
}

/** A sweep stays well inside one minute, the sweeper's period. */
const SWEEP_TIME_BOX_MS = 20_000;
/** Cron jobs work on batches and nobody waits on them: a statement in their transactions may take longer. */
const JOB_STATEMENT_TIMEOUT_MS = 30_000;

export const JOBS: Record<string, JobSpec> = {
  'outbox-sweeper': {
    recorded: false,
    run: sweepOutbox,
  },
  'daily-cleanup': { recorded: true, run: dailyCleanup },
  'weekly-feedback': { recorded: true, run: weeklyFeedback },
};

/** Cron expressions from wrangler.toml → job names. */
export const CRON_JOBS: Record<string, string> = {
  '0 6 * * *': 'daily-cleanup',
  '0 10 * * 0': 'weekly-feedback',
  '* * * * *': 'outbox-sweeper',
};

/** Each cron run starts its own trace: its log lines, the events it emits and their handlers share it. */
export async function runScheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  const config = loadConfig(env);
  return runInSpan(startSpan(null, config.TRACE_SAMPLE_RATE), () => runJob(controller, env, ctx));
}

async function runJob(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const name = CRON_JOBS[controller.cron];
  const job = name ? JOBS[name] : undefined;
  if (!name || !job) {
    log('info', 'cron.tick', { cron: controller.cron, job: name ?? null, implemented: false });
    return;
  }
  const { ctx, finish } = openServiceContext(env, { actor: { kind: 'system', job: name }, statementTimeoutMs: JOB_STATEMENT_TIMEOUT_MS });
  const db = ctx.db;
  const now = new Date(controller.scheduledTime);
  const started = Date.now();
  let runId: string | undefined;
  try {
    if (job.recorded) {
      const [run] = await db.write.insert(jobRuns).values({ job: name, startedAt: new Date(started) }).returning({ id: jobRuns.id });
      runId = run!.id;
    }
    try {
      const counts = await job.run(ctx, now);
      if (runId) await db.write.update(jobRuns).set({ status: 'succeeded', finishedAt: new Date(), counts }).where(eq(jobRuns.id, runId));
      log('info', 'cron.done', { job: name, ms: Date.now() - started, ...counts });
    } catch (err) {
      const error = describeError(err);
      log('error', 'cron.failed', { job: name, ms: Date.now() - started, error, stack: stackFrames(err) });
      if (runId) {
        await db.write
          .update(jobRuns)
          .set({ status: 'failed', finishedAt: new Date(), error: `${error.name}: ${error.message}`.slice(0, 1000) })
          .where(eq(jobRuns.id, runId))
          .catch(() => undefined);
      }
      throw err; // the platform records the failed invocation
    }
  } finally {
    await finish();
  }
}
