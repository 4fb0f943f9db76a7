import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { loadConfig } from '../config';
import { Db } from '../db/client';
import { relayOutbox, type PendingEvents } from '../events/outbox';
import { describeError, log } from '../lib/log';

/** Validates config once per env and gives the request its own lazily-connected database handle. */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = loadConfig(c.env);
  c.set('config', config);
  const db = new Db(config);
  const pending: PendingEvents = [];
  c.set('db', db);
  c.set('pendingEvents', pending);
  try {
    await next();
  } finally {
    if (db.opened) afterResponse(c, relayThenClose(db, c.env, pending));
  }
};

/** After the response: hand this request's committed events to the queue, then close the pools. */
async function relayThenClose(db: Db, env: AppEnv['Bindings'], pending: PendingEvents): Promise<void> {
  try {
    if (pending.length) await relayOutbox(db.write, env, { ids: pending });
  } catch (err) {
    // The rows stay unrelayed; the outbox sweeper cron sends them shortly.
    log('warn', 'outbox.relay_deferred', { count: pending.length, error: describeError(err) });
  } finally {
    await db.close();
  }
}

/** Run work after the response is sent (waitUntil), or inline where there is no execution context. */
export function afterResponse(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }, work: Promise<unknown>): void {
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    ctx = undefined;
  }
  if (ctx) ctx.waitUntil(work);
  else void work;
}
