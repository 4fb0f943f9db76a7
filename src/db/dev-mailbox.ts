import { Pool } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-serverless';
import { configureNeonDriver } from './client';
import { devEmails } from './schema';

/**
 * The local development mailbox: mail, SMS and voice codes that would have gone to a provider land in
 * `dev_emails` (readable at GET /dev/emails in development). A table of ours, so it lives with the
 * database code, not with the third-party clients. Never written in production.
 */

/** Where the mailbox is: the database a Durable Object writes to (through the local proxy in development). */
export interface DevMailbox {
  databaseUrl: string;
  neonProxy?: string;
}

/** One row in dev_emails through a short-lived connection (a Durable Object has no request-scoped Db). */
export async function writeDevMailbox(
  mailbox: DevMailbox,
  m: { to: string; from: string; subject: string; text: string; html?: string; template: string; idempotencyKey?: string },
): Promise<void> {
  configureNeonDriver(mailbox.neonProxy, mailbox.databaseUrl);
  const pool = new Pool({ connectionString: mailbox.databaseUrl, max: 1, connectionTimeoutMillis: 5000 });
  try {
    await drizzle({ client: pool })
      .insert(devEmails)
      .values({ to: m.to, from: m.from, subject: m.subject, text: m.text, html: m.html ?? null, tags: { template: m.template, idempotencyKey: m.idempotencyKey ?? null } });
  } finally {
    await pool.end().catch(() => undefined);
  }
}
