import { eq } from 'drizzle-orm';
import { jobRuns } from '../../db/schema';
import { describeError, log, stackFrames } from '../../lib/log';
import type { ServiceContext } from '../context';

/**
 * What a cron job reports: its counts, and for a job made of independent steps, the steps that failed
 * (step → error). A failed step has no count; the steps after it still ran.
 */
export interface JobOutcome {
  counts: Record<string, number>;
  failedSteps?: Record<string, string>;
}

/**
 * Run independent steps one after another, each on its own: a step that throws is logged and recorded in
 * `failedSteps`, and the next step runs anyway. A step's count is recorded under its name.
 */
export async function runSteps(job: string, steps: Record<string, () => Promise<number>>): Promise<JobOutcome> {
  const counts: Record<string, number> = {};
  const failedSteps: Record<string, string> = {};
  for (const [step, run] of Object.entries(steps)) {
    try {
      counts[step] = await run();
    } catch (err) {
      const error = describeError(err);
      log('error', 'cron.step_failed', { job, step, error, stack: stackFrames(err) });
      failedSteps[step] = `${error.name}: ${error.message}`;
    }
  }
  return Object.keys(failedSteps).length ? { counts, failedSteps } : { counts };
}

/** Record that a cron job started (job_runs: running); returns the run's id. */
export async function startJobRun(ctx: ServiceContext, input: { job: string; startedAt: Date }): Promise<string> {
  const [run] = await ctx.db.write.insert(jobRuns).values({ job: input.job, startedAt: input.startedAt }).returning({ id: jobRuns.id });
  return run!.id;
}

/**
 * Record how a run ended: succeeded with its counts; failed with the counts of the steps that ran and the
 * failed steps named in `error`; or failed with the error that stopped it.
 */
export async function finishJobRun(ctx: ServiceContext, input: { runId: string } & (JobOutcome | { error: string })): Promise<void> {
  const failed = 'error' in input ? [] : Object.entries(input.failedSteps ?? {});
  const outcome =
    'error' in input
      ? { status: 'failed' as const, error: input.error.slice(0, 1000) }
      : failed.length
        ? { status: 'failed' as const, counts: input.counts, error: `Steps failed: ${failed.map(([step, e]) => `${step} (${e})`).join('; ')}`.slice(0, 1000) }
        : { status: 'succeeded' as const, counts: input.counts };
  await ctx.db.write
    .update(jobRuns)
    .set({ ...outcome, finishedAt: new Date() })
    .where(eq(jobRuns.id, input.runId));
}
