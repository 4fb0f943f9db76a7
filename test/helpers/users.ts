import type { TestDatabase } from './db';
import { sessionToken } from './clerk';

export interface TestUser {
  id: string;
  email: string;
  token: string;
}

let counter = 0;

/**
 * A signed-up user (users + settings + profile rows, as the Clerk webhook creates them) and a valid
 * session token. Rows are inserted directly so tests of other features do not depend on the webhook.
 */
export async function signUp(db: TestDatabase, fields: { firstName?: string; lastName?: string; email?: string; profile?: Record<string, unknown> } = {}): Promise<TestUser> {
  const id = `user_${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const email = fields.email ?? `${id}@example.test`;
  await db.sql(`insert into users (id, email, first_name, last_name) values ($1, $2, $3, $4)`, [id, email, fields.firstName ?? 'Test', fields.lastName ?? 'User']);
  await db.sql(`insert into settings (user_id) values ($1)`, [id]);
  const profile = fields.profile ?? {};
  const columns = Object.keys(profile);
  await db.sql(
    `insert into profiles (user_id${columns.map((c) => `, ${c}`).join('')}) values ($1${columns.map((_, i) => `, $${i + 2}`).join('')})`,
    [id, ...Object.values(profile)],
  );
  return { id, email, token: await sessionToken(id) };
}
