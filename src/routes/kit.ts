import { createRoute, z, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { AppError, ERROR_CODES, type ErrorCode } from '../lib/errors';
import { requireBearerToken } from '../lib/http';
import { requireUser } from '../middleware/auth';
import { requireStepUp } from '../middleware/step-up';
import type { App, AppEnv } from '../router';

/*
 * The route kit: what every route file uses to declare its routes, so the OpenAPI document is uniform and a
 * route's access rule is written once, in one spelling (`auth`). A route file defines its own schemas and
 * handlers; it never re-defines these helpers.
 */

// ── Envelopes ───────────────────────────────────────────────────────────────────────────────────────

/** The error envelope, the body of every 4xx/5xx answer. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error', {
    example: {
      error: {
        code: 'VALIDATION_ERROR',
        message: 'Invalid request json',
        requestId: '0f4c3a2e-7d51-4b8e-9a55-2f3b1c7e9d10',
        details: { target: 'json', issues: [{ path: 'name', message: 'Too small: expected string to have >=1 characters' }] },
      },
    },
  });

/** `{ data }`, the success envelope. */
export const data = <T extends z.ZodType>(schema: T) => z.object({ data: schema });

export const PageMeta = z
  .object({
    total: z.number().int().openapi({ description: 'Rows matching the filter, over every page' }),
    limit: z.number().int(),
    offset: z.number().int(),
  })
  .openapi('PageMeta');

/** `{ data: [...], meta: { total, limit, offset } }`, the paged list envelope. */
export const pageOf = <T extends z.ZodType>(schema: T) => z.object({ data: z.array(schema), meta: PageMeta });

/** `?limit=&offset=` of the paged lists (a route with other bounds declares its own). */
export const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

/** Responds with the paged list envelope for a service's `{ items, total }` and the request's limit/offset. */
export function paged<T>(c: Context<AppEnv>, page: { items: T[]; total: number }, q: { limit: number; offset: number }) {
  return c.json({ data: page.items, meta: { total: page.total, limit: q.limit, offset: q.offset } }, 200);
}

// ── Bodies and responses ────────────────────────────────────────────────────────────────────────────

/** A JSON response: `200: json(data(Thing), 'The thing')`. `example` documents a non-trivial body. */
export const json = <T extends z.ZodType>(schema: T, description: string, example?: unknown) => ({
  description,
  content: { 'application/json': media(schema, example) },
});

/** A required JSON request body: `request: { params, ...body(Thing, example) }`. */
export const body = <T extends z.ZodType>(schema: T, example?: unknown) => ({
  body: { required: true, content: { 'application/json': media(schema, example) } },
});

const media = <T extends z.ZodType>(schema: T, example: unknown): { schema: T; example?: unknown } =>
  example === undefined ? { schema } : { schema, example };

/** The status every error code is answered with, inverted: the code an example of that status shows. */
const EXAMPLE_CODE = {
  400: 'VALIDATION_ERROR',
  401: 'AUTH_REQUIRED',
  402: 'PAYMENT_FAILED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  410: 'GONE',
  413: 'PAYLOAD_TOO_LARGE',
  426: 'UPGRADE_REQUIRED',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
} as const satisfies Record<number, ErrorCode>;
export type ErrorStatus = keyof typeof EXAMPLE_CODE;

const DEFAULT_DESCRIPTION: Record<ErrorStatus, string> = {
  400: 'Invalid path, query or body (details.issues lists each problem)',
  401: 'No valid session',
  402: 'Payment failed',
  403: 'The caller lacks the permission this operation needs',
  404: 'Not found, or not visible to the caller',
  409: 'Conflicts with the current state',
  410: 'No longer available',
  413: 'Request body too large',
  426: 'Not a WebSocket request',
  429: 'Rate limited (Retry-After)',
  503: 'Temporarily unavailable (Retry-After)',
};

type ErrorDoc = ReturnType<typeof errorDoc>;
function errorDoc(status: ErrorStatus, description: string) {
  return {
    description,
    content: {
      'application/json': {
        schema: ErrorResponse,
        example: { error: { code: EXAMPLE_CODE[status], message: description, requestId: '0f4c3a2e-7d51-4b8e-9a55-2f3b1c7e9d10' } },
      },
    },
  };
}

/**
 * Documented error answers, all in the error envelope: `...errors(400, 429)` with the standard descriptions,
 * or `...errors({ 404: 'No such plan', 409: 'Already claimed' })` with the route's own.
 */
export function errors<const S extends ErrorStatus>(...statuses: S[]): { [K in S]: ErrorDoc };
export function errors<const D extends Partial<Record<ErrorStatus, string>>>(descriptions: D): { [K in keyof D]: ErrorDoc };
export function errors(...args: (ErrorStatus | Partial<Record<ErrorStatus, string>>)[]): Record<number, ErrorDoc> {
  const out: Record<number, ErrorDoc> = {};
  for (const arg of args) {
    if (typeof arg === 'number') out[arg] = errorDoc(arg, DEFAULT_DESCRIPTION[arg]);
    else for (const [status, text] of Object.entries(arg)) out[Number(status)] = errorDoc(Number(status) as ErrorStatus, text!);
  }
  return out;
}

// ── Access: security markers and their guards ───────────────────────────────────────────────────────

/** components.securitySchemes: registered once on the app (`registerSecuritySchemes`). */
export const SECURITY_SCHEMES = {
  clerkSession: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'Clerk session token (or the __session cookie). Session tokens only: API keys, machine and OAuth tokens are not accepted.',
  },
  stepUpToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Step-Up-Token',
    description: 'Step-up token from POST /api/v1/account-settings/verify-otp (browsers: the fa_stepup cookie); sent together with the Clerk session',
  },
  adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN (operator routes)' },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' },
  streamTicket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'Single-use ticket from POST /api/v1/notifications/stream-ticket' },
  clerkWebhookSignature: { type: 'apiKey', in: 'header', name: 'svix-signature', description: 'Svix signature of the raw body (with svix-id and svix-timestamp), CLERK_WEBHOOK_SECRET' },
  razorpayWebhookSignature: { type: 'apiKey', in: 'header', name: 'X-Razorpay-Signature', description: 'HMAC-SHA256 of the raw body, RAZORPAY_WEBHOOK_SECRET' },
  githubWebhookSignature: { type: 'apiKey', in: 'header', name: 'X-Hub-Signature-256', description: "HMAC-SHA256 of the raw body under the linked project's webhook secret" },
  qstashSignature: { type: 'apiKey', in: 'header', name: 'Upstash-Signature', description: 'QStash JWT over the raw body and the URL (current or next signing key)' },
} as const;
type Scheme = keyof typeof SECURITY_SCHEMES;

export function registerSecuritySchemes(app: App): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
}

/** Bearer-token door of the operator and metrics routes: 404 while the token is unset, 401 for a wrong one. */
const bearerGuard =
  (key: 'ADMIN_TOKEN' | 'METRICS_TOKEN', what: string): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    requireBearerToken(c, c.get('config')[key], what);
    c.header('Cache-Control', 'no-store');
    await next();
  };
const requireOperator = bearerGuard('ADMIN_TOKEN', 'operator token');
const requireMetricsToken = bearerGuard('METRICS_TOKEN', 'metrics token');

const only = (scheme: Scheme) => [{ [scheme]: [] as string[] }];

/**
 * Who may call a route. The kit turns it into the operation's `security`, the guard middleware that enforces
 * it (ahead of input validation, so an anonymous call is 401 before it is 400) and its documented refusals.
 */
const ACCESS = {
  /** Anyone; the route never reads a session. */
  public: { security: [], guards: [], refusals: {} },
  /** Anyone; a valid session, when sent, changes the answer (e.g. hasStarred). */
  optionalSession: { security: [{}, { clerkSession: [] }], guards: [], refusals: {} },
  /** A signed-in user: 401 AUTH_REQUIRED without a valid session (unknown users are provisioned). */
  session: { security: only('clerkSession'), guards: [requireUser], refusals: { 401: 'No valid session' } },
  /** A signed-in user who has just confirmed it is them (step-up). */
  stepUp: {
    security: [{ clerkSession: [], stepUpToken: [] }],
    guards: [requireUser, requireStepUp],
    refusals: { 401: 'No valid session', 403: 'No valid step-up token for this user and client (details.reason STEP_UP_REQUIRED)' },
  },
  /** The operator (bearer ADMIN_TOKEN). */
  operator: {
    security: only('adminToken'),
    guards: [requireOperator],
    refusals: { 401: 'Missing or wrong operator token', 404: 'ADMIN_TOKEN is not configured' },
  },
  /** The metrics scraper (bearer METRICS_TOKEN). */
  metrics: {
    security: only('metricsToken'),
    guards: [requireMetricsToken],
    refusals: { 401: 'Missing or wrong token', 404: 'METRICS_TOKEN is not configured' },
  },
  /** A single-use stream ticket, checked by the route's service. */
  streamTicket: { security: only('streamTicket'), guards: [], refusals: { 401: 'Ticket missing, wrong, already used or expired' } },
  /** Provider webhooks: the signature is checked over the raw bytes by the route. */
  clerkWebhook: { security: only('clerkWebhookSignature'), guards: [], refusals: { 401: 'Missing or invalid signature' } },
  razorpayWebhook: { security: only('razorpayWebhookSignature'), guards: [], refusals: { 401: 'Missing or invalid signature' } },
  githubWebhook: { security: only('githubWebhookSignature'), guards: [], refusals: { 401: 'Missing or invalid signature' } },
  qstashWebhook: { security: only('qstashSignature'), guards: [], refusals: { 401: 'Missing or invalid signature' } },
} as const satisfies Record<string, { security: Record<string, string[]>[]; guards: MiddlewareHandler<AppEnv>[]; refusals: Partial<Record<ErrorStatus, string>> }>;
export type Access = keyof typeof ACCESS;

type Middleware = MiddlewareHandler<AppEnv>;
// Any middleware, also one that adds variables (e.g. a webhook's verified delivery), keeps its own type.
type AsArray<M> = M extends readonly unknown[] ? M : M extends (...args: never[]) => unknown ? [M] : [];

/** What every operation of the API must carry, beyond what createRoute asks for. */
export interface KitRouteConfig extends Omit<RouteConfig, 'security'> {
  /** Who may call it: the one place a route says it needs a signed-in user (`auth: 'session'`). */
  auth: Access;
  /** Stable, unique, dot-separated: `team.invite.create`. SDK generators derive method names from it. */
  operationId: string;
  summary: string;
  tags: string[];
}

/**
 * createRoute with the kit's conventions: `security`, the guard middleware of `auth` (before the route's own),
 * and the standard refusals (400 for routes with input, the 401/403/404 of `auth`), which the route's own
 * `responses` may re-describe.
 */
export function route<const R extends KitRouteConfig>(config: R): KitRoute<R> {
  const { auth, middleware, responses, ...rest } = config;
  const access = ACCESS[auth];
  const request = config.request as Record<string, unknown> | undefined;
  const hasInput = Boolean(request && Object.keys(request).length);
  const own = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
  const built = createRoute({
    ...rest,
    security: access.security as Record<string, string[]>[],
    middleware: [...(access.guards as readonly Middleware[]), ...own],
    responses: { ...(hasInput ? errors(400) : {}), ...errors(access.refusals), ...responses },
  });
  return built as unknown as KitRoute<R>;
}

/**
 * The route as the handler's types see it: refusals are thrown as AppError, never returned, so only the answers
 * a handler returns itself (2xx, or e.g. /healthz's 503 body) type-check its return value.
 */
type KitRoute<R extends KitRouteConfig> = Omit<R, 'auth' | 'middleware' | 'responses'> & {
  security: Record<string, string[]>[];
  middleware: [...(typeof ACCESS)[R['auth']]['guards'], ...AsArray<R['middleware']>];
  responses: Returned<R['responses']>;
  getRoutingPath(): string;
};
type Returned<T> = { [K in keyof T as T[K] extends ErrorDoc ? never : K]: T[K] };

/**
 * For an area whose every route has the same `auth` (settings, notifications, the operator routes…): a path under
 * it that matches no route answers a caller without that access as its routes do (401), and 404 only past the
 * guard, so an anonymous caller learns nothing about which paths exist. Call it after the area's last route.
 */
export function guardUnmatched(router: App, auth: 'session' | 'operator'): void {
  const guards = ACCESS[auth].guards as readonly Middleware[];
  router.all('*', async (c) => {
    for (const guard of guards) await guard(c, async () => {}); // a guard refuses by throwing
    throw new AppError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`);
  });
}

/** A user id (the Clerk id, `user_2abc…`) in a path or body: anything else can name no user. */
export const UserId = z.string().min(1).max(255).regex(/^[A-Za-z0-9_-]+$/, 'a user id such as user_2abcDEF');

/** The signed-in caller of an `auth: 'session'` route (its guard has already refused anonymous calls). */
export function sessionUserId(c: Context<AppEnv>): string {
  const userId = c.get('userId');
  if (!userId) throw new Error('sessionUserId() on a route without auth: session');
  return userId;
}

export { z };
/** Free-text input (refuses NUL, which PostgreSQL cannot store): use instead of `z.string()` in request schemas. */
export { httpUrl, text } from '../lib/text';
