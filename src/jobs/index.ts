import type { Env } from '../config';
import { loadConfig } from '../config';
import { openServiceContext, type ServiceContext } from '../services/context';
import { scheduleWeeklyFeedback } from '../services/feedback';
import { dailyCleanup, finishJobRun, startJobRun, sweepOutbox, type JobOutcome } from '../services/maintenance';
import { describeError, log, stackFrames } from '../lib/log';
import { runInSpan, startSpan } from '../lib/trace';

export { SWEEP_AFTER_MS } from '../services/maintenance';

/** A job gets the cron's scheduled time as "now" (tests control the clock through it). */
type Job = (ctx: ServiceContext, now: Date) => Promise<JobOutcome>;

interface JobSpec {
  run: Job;
  /** Recorded in job_runs (running → succeeded | failed, with counts and failed steps). The minutely sweeper is not. */
  recorded: boolean;
}

/** Cron jobs work on batches and nobody waits on them: a statement in their transactions may take longer. */
const JOB_STATEMENT_TIMEOUT_MS = 30_000;

export const JOBS: Record<string, JobSpec> = {
  'outbox-sweeper': { recorded: false, run: async (ctx) => ({ counts: await sweepOutbox(ctx) }) },
  'daily-cleanup': { recorded: true, run: dailyCleanup },
  'weekly-feedback': { recorded: true, run: async (ctx, now) => ({ counts: await scheduleWeeklyFeedback(ctx, now) }) },
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
  const now = new Date(controller.scheduledTime);
  const started = Date.now();
  let runId: string | undefined;
  try {
    if (job.recorded) runId = await startJobRun(ctx, { job: name, startedAt: new Date(started) });
    let outcome;
    try {
      outcome = await job.run(ctx, now);
      if (runId) await finishJobRun(ctx, { runId, ...outcome });
    } catch (err) {
      const error = describeError(err);
      log('error', 'cron.failed', { job: name, ms: Date.now() - started, error, stack: stackFrames(err) });
      if (runId) await finishJobRun(ctx, { runId, error: `${error.name}: ${error.message}` }).catch(() => undefined);
      throw err; // the platform records the failed invocation
    }
    const failed = Object.keys(outcome.failedSteps ?? {});
    log(failed.length ? 'error' : 'info', failed.length ? 'cron.steps_failed' : 'cron.done', {
      job: name,
      ms: Date.now() - started,
      ...outcome.counts,
      ...(failed.length ? { failedSteps: failed } : {}),
    });
    // Each failed step logged its own error; the invocation still counts as failed.
    if (failed.length) throw new Error(`steps failed: ${failed.join(', ')}`);
  } finally {
    await finish();
  }
}
