import { z } from 'zod';
import { setLogLevel } from './lib/log';

/** Declared keys of T (not index signatures) whose values are not strings. */
type BindingKeys<T> = keyof { [K in keyof T as string extends K ? never : T[K] extends string ? never : K]: T[K] };

/** Worker bindings that are not plain strings (Durable Objects, queues, …), as `npm run types` generates them
 * from wrangler.toml into worker-configuration.d.ts; vars and secrets are validated by ConfigSchema below. */
export type Bindings = Pick<Cloudflare.Env, BindingKeys<Cloudflare.Env>>;

/** Everything the worker receives: bindings plus string vars and secrets. */
export type Env = Bindings & Record<string, unknown>;

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const csv = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const url = z.url();
const optionalUrl = z.url().optional();
const optionalString = z.string().min(1).optional();
const int = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

/** One schema for every var and secret the worker reads. Secrets are optional here and
 * required per environment in `superRefine`, so a dev machine runs with stand-ins. */
export const ConfigSchema = z
  .object({
    ENVIRONMENT: z.enum(['development', 'test', 'staging', 'production']).default('development'),
    MAINTENANCE_MODE: bool.default(false),
    PAYMENTS_ENABLED: bool.default(true),
    CORS_ORIGINS: csv,
    FRONTEND_URL: url.default('http://localhost:5173'),
    PUBLIC_BASE_URL: url.default('http://127.0.0.1:8787'),
    MAX_BODY_BYTES: int(1024 * 1024),
    /** Lowest level written (warn and error lines are always written). */
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Share of successful (< 400) request lines written, 0–1; failed requests are always logged. */
    LOG_REQUEST_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
    /** Share of new traces (requests without a traceparent, cron runs) marked sampled, 0–1; keep it equal to the Workers head sampling rate. */
    TRACE_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
    /** Seconds each isolate keeps the public plan list (0 = read the database every time). */
    PLANS_CACHE_SECONDS: int(60, 0),
    /** Open notification WebSockets per user; connecting one more closes the oldest. */
    NOTIFICATION_SOCKETS_PER_USER: z.coerce.number().int().min(1).max(50).default(5),
    /** Webhook deliveries (all providers) accepted per source IP per minute; the global limiter does not cover /webhooks/. */
    WEBHOOK_RATE_LIMIT_PER_MINUTE: int(600),

    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    DATABASE_REPLICA_URLS: csv.pipe(z.array(z.string().regex(/^postgres(ql)?:\/\//, 'must be postgres:// URLs'))),
    /** Local development only: "host:port" of the stand-in for Neon's endpoints (WebSocket and SQL over HTTP). */
    NEON_LOCAL_PROXY: optionalString,

    UPSTASH_REDIS_REST_URL: optionalUrl,
    UPSTASH_REDIS_REST_TOKEN: optionalString,
    /** Bound on one Redis call (caches and limits fail open past it: Redis must never stall a request). */
    REDIS_TIMEOUT_MS: int(1500, 100),
    /** Prefix for every Redis key, so environments (or test files) can share one Redis safely. */
    CACHE_NAMESPACE: z.string().regex(/^[a-z0-9:_-]{1,64}$/).default('fa'),

    QSTASH_URL: url.default('https://qstash.upstash.io'),
    QSTASH_TOKEN: optionalString,
    QSTASH_CURRENT_SIGNING_KEY: optionalString,
    QSTASH_NEXT_SIGNING_KEY: optionalString,

    CLERK_SECRET_KEY: optionalString,
    CLERK_PUBLISHABLE_KEY: optionalString,
    CLERK_JWT_KEY: optionalString,
    CLERK_AUTHORIZED_PARTIES: csv,
    CLERK_WEBHOOK_SECRET: optionalString,
    CLERK_API_BASE_URL: url.default('https://api.clerk.com'),

    RESEND_API_KEY: optionalString,
    RESEND_API_BASE_URL: url.default('https://api.resend.com'),
    EMAIL_FROM: z.string().min(3).default('FairArena <no-reply@fairarena.app>'),

    RAZORPAY_KEY_ID: optionalString,
    RAZORPAY_KEY_SECRET: optionalString,
    RAZORPAY_WEBHOOK_SECRET: optionalString,
    RAZORPAY_API_BASE_URL: url.default('https://api.razorpay.com'),

    GEMINI_API_KEY: optionalString,
    GEMINI_API_BASE_URL: url.default('https://generativelanguage.googleapis.com'),
    GEMINI_MODEL: z.string().min(1).default('gemini-2.5-flash'),
    /** AI assistant: free requests per user per UTC day. */
    AI_DAILY_FREE_REQUESTS: int(30, 0),
    /** AI assistant: beyond the free quota, charge 1 credit per request (true) or answer 429 (false). */
    AI_PAID_OVERFLOW: bool.default(true),

    SMS_API_BASE_URL: url.default('https://api.twilio.com'),
    /** OTP delivery: 'twilio' (Messages + Calls APIs at SMS_API_BASE_URL) or 'dev' (codes go to the dev mailbox; refused in staging/production). */
    SMS_PROVIDER: z.enum(['dev', 'twilio']).default('dev'),
    TWILIO_ACCOUNT_SID: optionalString,
    TWILIO_AUTH_TOKEN: optionalString,
    /** E.164 sender number (or a messaging-service-capable number) of the Twilio account. */
    TWILIO_FROM_NUMBER: optionalString,
    /** Optional disposable-number check (`GET {url}/check-phone?phone=`); fails open on outage. */
    CREDENTIAL_VALIDATOR_URL: optionalUrl,
    /** Phone codes (SMS + voice) the whole deployment may send per hour; past it sends are refused (fail closed). */
    PHONE_OTP_GLOBAL_HOURLY_CAP: int(200, 0),
    /** ISO 3166-1 alpha-2 countries whose numbers may receive codes (e.g. `IN,US`); empty: every country. */
    PHONE_OTP_ALLOWED_COUNTRIES: csv
      .transform((list) => list.map((c) => c.toUpperCase()))
      .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'must be ISO 3166-1 alpha-2 country codes'))),
    /** HMAC key for OTP hashes held by the UserState Durable Object (≥ 32 chars). */
    OTP_HMAC_SECRET: z.string().min(32).optional(),
    /** HS256 key of step-up tokens (account-settings verification, ≥ 32 chars). */
    STEPUP_TOKEN_SECRET: z.string().min(32).optional(),
    /** HMAC key of newsletter confirm/unsubscribe links (≥ 32 chars); the newsletter answers 503 without it. */
    NEWSLETTER_TOKEN_SECRET: z.string().min(32).optional(),
    METRICS_TOKEN: optionalString,

    /** Invite emails (organization + team, bulk included) one user may cause per rolling hour; fails closed. */
    INVITE_EMAILS_PER_USER_PER_HOUR: int(50),
    /** Invite emails into one organization (its teams included) per rolling 24 hours; fails closed. */
    INVITE_EMAILS_PER_ORG_PER_DAY: int(200),
    /** Bearer token of the operator routes (/admin/*: dead letters); they answer 404 without it. */
    ADMIN_TOKEN: z.string().min(32).optional(),
    /** The daily cleanup deletes activity-log rows (they hold IP addresses) older than this many days. */
    ACTIVITY_LOG_RETENTION_DAYS: int(60),
  })
  .superRefine((c, ctx) => {
    if (c.SMS_PROVIDER === 'twilio') {
      for (const key of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER'] as const) {
        if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required when SMS_PROVIDER is twilio' });
      }
    }
    if (c.ENVIRONMENT !== 'production' && c.ENVIRONMENT !== 'staging') return;
    // OTP codes must reach a real phone: the dev provider (codes in the dev mailbox) is never selectable here.
    if (c.SMS_PROVIDER === 'dev') ctx.addIssue({ code: 'custom', path: ['SMS_PROVIDER'], message: `dev provider not allowed in ${c.ENVIRONMENT}` });
    const required = [
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'CLERK_JWT_KEY',
      'CLERK_SECRET_KEY',
      'CLERK_PUBLISHABLE_KEY',
      'OTP_HMAC_SECRET',
      'STEPUP_TOKEN_SECRET',
      'NEWSLETTER_TOKEN_SECRET',
    ] as const;
    for (const key of required) {
      if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: `required in ${c.ENVIRONMENT}` });
    }
    // Production never runs with a webhook door that cannot check who knocks.
    if (c.ENVIRONMENT === 'production') {
      for (const key of ['RAZORPAY_WEBHOOK_SECRET', 'CLERK_WEBHOOK_SECRET', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY'] as const) {
        if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required in production' });
      }
    }
    // Without an allow-list, a session token minted for any origin would be accepted.
    if (c.CLERK_AUTHORIZED_PARTIES.length === 0) ctx.addIssue({ code: 'custom', path: ['CLERK_AUTHORIZED_PARTIES'], message: `required in ${c.ENVIRONMENT}` });
    if (c.NEON_LOCAL_PROXY) ctx.addIssue({ code: 'custom', path: ['NEON_LOCAL_PROXY'], message: 'local development only' });
  });

export type Config = z.infer<typeof ConfigSchema>;

/** Thrown when bindings do not validate. Names the bad keys, never their values. */
export class ConfigError extends Error {
  constructor(readonly keys: string[], readonly issues: string[]) {
    super(`Invalid worker configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

// The env object is stable for the life of an isolate (a new deployment gets a new one), so parse once per env.
const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) {
    setLogLevel(hit.LOG_LEVEL); // every door loads the config first: the level follows the env in use
    return hit;
  }
  // An empty var means "unset" (wrangler and .dev.vars cannot delete a key, only blank it).
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const keys = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '?')))];
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '?'}: ${i.message}`);
    throw new ConfigError(keys, issues);
  }
  cache.set(env, parsed.data);
  setLogLevel(parsed.data.LOG_LEVEL);
  return parsed.data;
}
