import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { loadConfig } from '../config';
import type { Db } from '../db/client';
import { openServiceContext } from '../services/context';

/** Validates config once per env and gives the request its service context (database connected lazily). */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = loadConfig(c.env);
  c.set('config', config);
  const { ctx, finish } = openServiceContext(c.env, { actor: { kind: 'anonymous' }, requestId: c.get('requestId'), config });
  c.set('services', ctx);
  try {
    await next();
  } finally {
    // After the response: hand this request's committed events to the queue, then close the pools.
    if ((ctx.db as Db).opened) afterResponse(c, finish());
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
