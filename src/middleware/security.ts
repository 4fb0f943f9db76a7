import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from '../router';
import { AppError } from '../lib/errors';

/**
 * Security headers on every response: HSTS, nosniff, frame denial, referrer and permissions policies, a deny-all
 * CSP (the API serves JSON, never pages; a route may set its own CSP, as the docs page does) and CORP. The
 * library's other defaults are off: they govern HTML documents or retired browsers (COOP, Origin-Agent-Cluster,
 * X-DNS-Prefetch-Control, X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection), do nothing for
 * a JSON response, and every header is paid for on every response.
 */
export const securityHeaders = secureHeaders({
  overwrite: false,
  xFrameOptions: 'DENY',
  xContentTypeOptions: true,
  referrerPolicy: 'strict-origin-when-cross-origin',
  permissionsPolicy: { camera: [], microphone: [], geolocation: [] },
  strictTransportSecurity: 'max-age=63072000; includeSubDomains; preload',
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  crossOriginResourcePolicy: 'same-site',
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
});

// traceparent: a browser client may continue its own trace and read the server span's id.
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id', 'X-Step-Up-Token', 'traceparent'];
const EXPOSED_HEADERS = ['X-Request-Id', 'traceparent', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

/**
 * CORS from the config allow-list. A request from a browser origin that is not on the list is refused
 * with 403 in the standard envelope (servers and webhooks send no Origin and are unaffected).
 */
export const corsPolicy: MiddlewareHandler<AppEnv> = async (c, next) => {
  const origin = c.req.header('Origin');
  if (!origin) {
    // Not a cross-origin browser request: nothing to allow. Vary keeps a shared cache from serving this answer
    // to a browser request that carries an Origin.
    // Set before the route runs: once the response exists, a header set through the context rebuilds it.
    c.header('Vary', 'Origin', { append: true });
    return next();
  }
  // Same-origin browser requests (e.g. "try it out" on /api-docs) are always allowed.
  const allowed = [...c.get('config').CORS_ORIGINS, new URL(c.req.url).origin];
  if (!allowed.includes(origin)) throw new AppError('FORBIDDEN', 'Origin not allowed');
  return cors({
    origin: (o) => (allowed.includes(o) ? o : null),
    credentials: true,
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: ALLOWED_HEADERS,
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  })(c, next);
};
