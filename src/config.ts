import { z } from 'zod';
import type { UserState } from './durable/user-state';

/** Worker bindings that are not plain strings (declared in wrangler.toml). */
export interface Bindings {
  USER_STATE: DurableObjectNamespace<UserState>;
  EVENTS: Queue;
}

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
    GLOBAL_RATE_LIMIT_PER_MINUTE: int(1000),

    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    DATABASE_REPLICA_URLS: csv.pipe(z.array(z.string().regex(/^postgres(ql)?:\/\//, 'must be postgres:// URLs'))),
    /** Local development only: "host:port" of the ws→TCP proxy standing in for Neon's WebSocket endpoint. */
    NEON_LOCAL_WS_PROXY: optionalString,

    UPSTASH_REDIS_REST_URL: optionalUrl,
    UPSTASH_REDIS_REST_TOKEN: optionalString,
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

    SMS_API_BASE_URL: url.default('https://api.twilio.com'),
    GITHUB_WEBHOOK_SECRET: optionalString,
    METRICS_TOKEN: optionalString,
  })
  .superRefine((c, ctx) => {
    if (c.ENVIRONMENT !== 'production' && c.ENVIRONMENT !== 'staging') return;
    const required = ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'CLERK_JWT_KEY', 'CLERK_SECRET_KEY'] as const;
    for (const key of required) {
      if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: `required in ${c.ENVIRONMENT}` });
    }
    if (c.NEON_LOCAL_WS_PROXY) ctx.addIssue({ code: 'custom', path: ['NEON_LOCAL_WS_PROXY'], message: 'local development only' });
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
  if (hit) return hit;
  // An empty var means "unset" (wrangler and .dev.vars cannot delete a key, only blank it).
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const keys = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '?')))];
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '?'}: ${i.message}`);
    throw new ConfigError(keys, issues);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
