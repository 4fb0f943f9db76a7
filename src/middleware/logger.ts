import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { log } from '../lib/log';

/** One structured line per request. Never logs bodies, headers or query strings (they may carry PII/tokens). */
export const requestLogger: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  await next();
  const status = c.res.status;
  log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'request', {
    requestId: c.get('requestId'),
    method: c.req.method,
    route: c.req.routePath,
    path: c.req.path,
    status,
    ms: Date.now() - started,
    userId: c.get('userId'),
  });
};
