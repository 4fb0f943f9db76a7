import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../router';
import { log } from '../lib/log';

/**
 * One structured line per request. Logs the matched route pattern, never the concrete path, bodies,
 * headers or query strings: paths carry secrets (invite and feedback codes) and ids. Successful requests are
 * sampled at LOG_REQUEST_SAMPLE_RATE (console output is a large share of a cheap request's cost); a request
 * that failed is always logged.
 */
export const requestLogger: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  await next();
  const status = c.res.status;
  const rate = c.var.config?.LOG_REQUEST_SAMPLE_RATE ?? 1;
  if (status < 400 && rate < 1 && Math.random() >= rate) return;
  log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'request', {
    requestId: c.get('requestId'),
    method: c.req.method,
    route: c.req.routePath,
    status,
    ms: Date.now() - started,
    userId: c.get('userId'),
  });
};
