import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { fetch as miniflareFetch } from 'miniflare';
import { defineConfig } from 'vitest/config';
import { ConfigSchema } from './src/config';

// Tests run inside workerd against the real stack that scripts/test.mjs starts (`npm test`).
function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\` (scripts/test.mjs starts PostgreSQL, Redis and the stand-ins).`);
  return value;
}

const pg = `postgres://${need('TEST_PG_USER')}:${need('TEST_PG_PASSWORD')}@${need('TEST_PG_HOST')}:${need('TEST_PG_PORT')}`;

// A throwaway Clerk signing key: the public PEM is the worker's CLERK_JWT_KEY, the private JWK lets tests mint sessions.
const clerkKey = await generateKeyPair('RS256', { extractable: true });

// Every config key the worker reads is pinned here (blank = unset), so a developer's .dev.vars —
// which vitest-pool-workers loads automatically — can never leak real keys into tests.
const blank = Object.fromEntries(Object.keys(ConfigSchema.shape).map((k) => [k, '']));

const bindings = {
  ...blank,
  ENVIRONMENT: 'test',
  DATABASE_URL: `${pg}/fairarena_shared`,
  DATABASE_REPLICA_URLS: '',
  NEON_LOCAL_PROXY: need('TEST_NEON_PROXY'),
  UPSTASH_REDIS_REST_URL: need('TEST_UPSTASH_URL'),
  UPSTASH_REDIS_REST_TOKEN: need('TEST_UPSTASH_TOKEN'),
  CACHE_NAMESPACE: 'test',
  // Two cores run many test files at once: a slow Redis answer must not let a rate-limit test's request through
  // (limits fail open past the timeout). The Redis fault tests set production's bound themselves.
  REDIS_TIMEOUT_MS: '5000',
  QSTASH_URL: need('TEST_QSTASH_URL'),
  QSTASH_TOKEN: need('TEST_QSTASH_TOKEN'),
  QSTASH_CURRENT_SIGNING_KEY: need('TEST_QSTASH_SIGNING_KEY'),
  QSTASH_NEXT_SIGNING_KEY: 'sig_test_next',
  CORS_ORIGINS: 'https://app.fairarena.test',
  PUBLIC_BASE_URL: 'http://api.fairarena.test',
  CLERK_SECRET_KEY: 'sk_test_local',
  CLERK_PUBLISHABLE_KEY: `pk_test_${Buffer.from('clerk.fairarena.test$').toString('base64')}`,
  CLERK_JWT_KEY: await exportSPKI(clerkKey.publicKey),
  CLERK_AUTHORIZED_PARTIES: 'https://app.fairarena.test',
  CLERK_WEBHOOK_SECRET: `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`,
  // Each test reads the plans it just changed; the isolate-level cache has its own test.
  PLANS_CACHE_SECONDS: '0',
  NEWSLETTER_TOKEN_SECRET: 'test-newsletter-token-secret-0123456789abcdef',
  // Phone / step-up OTP: Twilio is the default provider in tests (faked at the fetch boundary); a file
  // that wants the dev mailbox overrides SMS_PROVIDER='dev'.
  OTP_HMAC_SECRET: 'test-otp-hmac-secret-0123456789abcdef0123456789',
  STEPUP_TOKEN_SECRET: 'test-step-up-token-secret-0123456789abcdef0123',
  SMS_PROVIDER: 'twilio',
  TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000',
  TWILIO_AUTH_TOKEN: 'test-twilio-auth-token',
  TWILIO_FROM_NUMBER: '+15005550006',
  // Test-only (never read by src/): how the harness reaches PostgreSQL and signs Clerk tokens.
  TEST_PG_ADMIN_URL: `${pg}/postgres`,
  TEST_PG_BASE_URL: pg,
  TEST_TEMPLATE_DB: need('TEST_TEMPLATE_DB'),
  // Fault tests: the local Neon endpoints at a pooler's limit, a port that accepts and never answers, a closed port.
  TEST_NEON_PROXY_CONSTRAINED: need('TEST_NEON_PROXY_CONSTRAINED'),
  TEST_NEON_PROXY_SLOW: need('TEST_NEON_PROXY_SLOW'),
  TEST_CLOSED_PORT: need('TEST_CLOSED_PORT'),
  TEST_UPSTASH_MEMORY_URL: need('TEST_UPSTASH_MEMORY_URL'),
  TEST_CLERK_PRIVATE_JWK: JSON.stringify(await exportJWK(clerkKey.privateKey)),
  TEST_HANGING_ADDR: need('TEST_HANGING_ADDR'),
};

export default defineConfig({
  plugins: [
    cloudflareTest({
      main: './src/index.ts',
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings,
        // The global limiter as in wrangler.toml, and a strict one tests swap in to see it refuse.
        ratelimits: {
          GLOBAL_RATE_LIMITER: { namespace_id: '1001', simple: { limit: 1000, period: 60 } },
          TEST_STRICT_RATE_LIMITER: { namespace_id: '9001', simple: { limit: 3, period: 60 } },
        },
        // Loopback (PostgreSQL proxy, Redis bridge, QStash emulator) passes through; any other host is a
        // test bug: third-party APIs must be faked at the fetch boundary (test/helpers/fake-fetch.ts).
        outboundService: async (req: Request) => {
          const url = new URL(req.url);
          if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') {
            const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
            return miniflareFetch(req.url, {
              method: req.method,
              headers: req.headers,
              body: hasBody ? await req.arrayBuffer() : undefined,
            } as never) as unknown as Response;
          }
          return new Response(`unexpected outbound request to ${url.hostname} (fake it in the test)`, { status: 599 });
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts'],
    silent: 'passed-only', // request logs only for failing tests
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
