import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { loadConfig } from '../config';
import { Db } from '../db/client';

/** Validates config once per env and gives the request its own lazily-connected database handle. */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = loadConfig(c.env);
  c.set('config', config);
  const db = new Db(config);
  c.set('db', db);
  try {
    await next();
  } finally {
    if (db.opened) afterResponse(c, db.close());
  }
};

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
