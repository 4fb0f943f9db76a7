// Test-only bindings (vitest.config.ts); the worker's own come from worker-configuration.d.ts (npm run types).
declare namespace Cloudflare {
  interface Env {
    TEST_PG_ADMIN_URL: string;
    TEST_PG_BASE_URL: string;
    TEST_TEMPLATE_DB: string;
    TEST_CLERK_PRIVATE_JWK: string;
    /** host:port of a TCP server that accepts connections and never answers (scripts/stack/hanging-server.mjs). */
    TEST_HANGING_ADDR: string;
    TEST_STRICT_RATE_LIMITER: RateLimit;
    [key: string]: unknown;
  }
}
