import type { Env } from '../config';
import { log } from '../lib/log';

/** Cron expressions from wrangler.toml → job names. The jobs themselves arrive with their features. */
export const CRON_JOBS: Record<string, string> = {
  '0 6 * * *': 'daily-cleanup',
  '0 10 * * 0': 'weekly-feedback',
  '* * * * *': 'outbox-sweeper',
};

export async function runScheduled(controller: ScheduledController, _env: Env, _ctx: ExecutionContext): Promise<void> {
  const job = CRON_JOBS[controller.cron];
  log('info', 'cron.tick', { cron: controller.cron, job: job ?? null, scheduledTime: new Date(controller.scheduledTime).toISOString() });
}
