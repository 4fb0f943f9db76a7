declare namespace Cloudflare {
  interface Env {
    USER_STATE: DurableObjectNamespace<import('../src/durable/user-state').UserState>;
    NOTIFICATION_HUB: DurableObjectNamespace<import('../src/durable/notification-hub').NotificationHub>;
    EVENTS: Queue;
    TEST_PG_ADMIN_URL: string;
    TEST_PG_BASE_URL: string;
    TEST_TEMPLATE_DB: string;
    TEST_CLERK_PRIVATE_JWK: string;
    /** host:port of a TCP server that accepts connections and never answers (scripts/stack/hanging-server.mjs). */
    TEST_HANGING_ADDR: string;
    [key: string]: unknown;
  }
}
