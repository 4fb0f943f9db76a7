declare namespace Cloudflare {
  interface Env {
    USER_STATE: DurableObjectNamespace<import('../src/durable/user-state').UserState>;
    NOTIFICATION_HUB: DurableObjectNamespace<import('../src/durable/notification-hub').NotificationHub>;
    EVENTS: Queue;
    TEST_PG_ADMIN_URL: string;
    TEST_PG_BASE_URL: string;
    TEST_TEMPLATE_DB: string;
    TEST_CLERK_PRIVATE_JWK: string;
    [key: string]: unknown;
  }
}
