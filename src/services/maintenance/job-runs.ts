import { eq } from 'drizzle-orm';
import { jobRuns } from '../../db/schema';
import type { ServiceContext } from '../context';

/** Record that a cron job started (job_runs: running); returns the run's id. */
export async function startJobRun(ctx: ServiceContext, input: { job: string; startedAt: Date }): Promise<string> {
  const [run] = await ctx.db.write.insert(jobRuns).values({ job: input.job, startedAt: input.startedAt }).returning({ id: jobRuns.id });
  return run!.id;
}

/** Record how a run ended: succeeded with its counts, or failed with its error. */
export async function finishJobRun(
  ctx: ServiceContext,
  input: { runId: string } & ({ counts: Record<string, number> } | { error: string }),
): Promise<void> {
  const outcome = 'counts' in input ? { status: 'succeeded' as const, counts: input.counts } : { status: 'failed' as const, error: input.error.slice(0, 1000) };
  await ctx.db.write
    .update(jobRuns)
    .set({ ...outcome, finishedAt: new Date() })
    .where(eq(jobRuns.id, input.runId));
}
