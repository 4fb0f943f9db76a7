import type { Env } from '../config';
import { loadConfig } from '../config';
import { Db } from '../db/client';
import { relayOutbox } from '../events/outbox';
import { log } from '../lib/log';

/** Outbox rows older than this were not relayed by their request (crash, queue hiccup): sweep them. */
export const SWEEP_AFTER_MS = 30_000;

type Job = (env: Env, db: Db) => Promise<Record<string, number>>;

const JOBS: Record<string, Job> = {
  'outbox-sweeper': async (env, db) => ({ relayed: await relayOutbox(db.write, env, { olderThanMs: SWEEP_AFTER_MS }) }),
};

/** Cron expressions from wrangler.toml → job names. Jobs without an implementation yet only log. */
export const CRON_JOBS: Record<string, string> = {
  '0 6 * * *': 'daily-cleanup',
  '0 10 * * 0': 'weekly-feedback',
  '* * * * *': 'outbox-sweeper',
};

export async function runScheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const name = CRON_JOBS[controller.cron];
  const job = name ? JOBS[name] : undefined;
  if (!job) {
    log('info', 'cron.tick', { cron: controller.cron, job: name ?? null, implemented: false });
    return;
  }
  const db = new Db(loadConfig(env));
  const started = Date.now();
  try {
    const counts = await job(env, db);
    log('info', 'cron.done', { job: name, ms: Date.now() - started, ...counts });
  } finally {
    await db.close();
  }
}
