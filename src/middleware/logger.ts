import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config';
import type { AppEnv } from '../router';
import { log } from '../lib/log';
import { recordRequest } from '../lib/metrics';
import { formatTraceparent, parseTraceparent, runInSpan, startSpan } from '../lib/trace';

/** Share of new traces (no incoming traceparent) marked sampled; mirrors the Workers head sampling rate. */
function traceSampleRate(env: AppEnv['Bindings']): number {
  const rate = Number(env.TRACE_SAMPLE_RATE ?? 1);
  return rate >= 0 && rate <= 1 ? rate : 1;
}

/**
 * The request's server span and its observations. A valid incoming `traceparent` continues the caller's
 * trace (a malformed one is ignored: a new trace starts, the request is never refused for it); the
 * response carries the server span's `traceparent`. Everything below runs inside the span, so every log
 * line of the request carries traceId/spanId.
 *
 * Then one structured line per request. Logs the matched route pattern, never the concrete path, bodies,
 * headers or query strings: paths carry secrets (invite and feedback codes) and ids. Successful requests are
 * sampled at LOG_REQUEST_SAMPLE_RATE (console output is a large share of a cheap request's cost); a request
 * that failed is always logged. Every request (sampled or not) writes one RED data point.
 */
export const requestLogger: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  const span = startSpan(parseTraceparent(c.req.header('traceparent')), traceSampleRate(c.env));
  const traceparent = formatTraceparent(span);
  // Prepared headers reach every response built through the context (routes, errors, 404s).
  c.header('traceparent', traceparent);
  c.set('span', span);
  await runInSpan(span, next);
  const res = c.res;
  if (res.status !== 101 && !res.headers.has('traceparent')) {
    try {
      res.headers.set('traceparent', traceparent);
    } catch {
      // A passed-through response with immutable headers: leave it as it is.
    }
  }
  const status = res.status;
  const ms = Date.now() - started;
  const route = c.req.routePath;
  recordRequest(c.env, {
    route,
    method: c.req.method,
    status,
    ms,
    cache: span.cache,
    colo: (c.req.raw as { cf?: { colo?: string } }).cf?.colo,
    error: c.get('unhandledError'),
  });
  // Unset when the config failed to load (that request is logged in full). `c.var` would copy every variable.
  const rate = (c.get('config') as Config | undefined)?.LOG_REQUEST_SAMPLE_RATE ?? 1;
  if (status < 400 && rate < 1 && Math.random() >= rate) return;
  // After `next` the span is no longer the async context: name it explicitly.
  log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'request', {
    traceId: span.traceId,
    spanId: span.spanId,
    requestId: c.get('requestId'),
    method: c.req.method,
    route,
    status,
    ms,
    userId: c.get('userId'),
  });
};
