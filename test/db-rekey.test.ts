import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/db';

// Account recovery re-keys a soft-deleted user to its new Clerk id in one statement
// (`UPDATE users SET id = <new>, deleted_at = NULL WHERE id = <old>`). Every FK to users.id is
// ON UPDATE CASCADE (0003_users_fk_on_update_cascade) and the append-only triggers let exactly that cascade
// through (0004_allow_user_rekey, fa_reject_update_unless_user_rekey) — but nothing else.
// Raw SQL on purpose: no service code is involved.

const db = useTestDatabase();

const OLD = 'user_rekey_old';
const NEW = 'user_rekey_new';
const OTHER = 'user_rekey_other';

interface Ids {
  orgId: string;
  teamId: string;
  projectId: string;
  ledgerId: string;
  orgAuditId: string;
}
let ids: Ids;

async function one<T = { id: string }>(text: string, params: unknown[] = []): Promise<T> {
  const { rows } = await db.sql<T>(text, params);
  return rows[0]!;
}

beforeAll(async () => {
  for (const id of [OLD, OTHER]) {
    await db.sql(`insert into users (id, email) values ($1, $2)`, [id, `${id}@example.test`]);
  }
  await db.sql(`insert into profiles (user_id) values ($1)`, [OLD]);
  await db.sql(`insert into settings (user_id, settings) values ($1, '{"wantToGetFeedbackMail":false}'::jsonb)`, [OLD]);
  // OTHER's profile, starred and viewed by OLD.
  const otherProfile = await one(`insert into profiles (user_id) values ($1) returning id`, [OTHER]);
  await db.sql(`insert into profile_stars (profile_id, user_id) values ($1, $2)`, [otherProfile.id, OLD]);
  await db.sql(`insert into profile_views (profile_id, viewer_user_id) values ($1, $2)`, [otherProfile.id, OLD]);

  const payment = await one(
    `insert into payments (user_id, razorpay_order_id, razorpay_payment_id, plan_id, plan_name, amount, credits, status, completed_at)
     values ($1, 'order_rekey_1', 'pay_rekey_1', 'basic_plan', 'Basic', 89900, 50, 'COMPLETED', now()) returning id`,
    [OLD],
  );
  const ledger = await one(
    `insert into credit_transactions (user_id, type, amount, balance_after, description)
     values ($1, 'INITIAL_ALLOCATION', 200, 200, 'welcome') returning id`,
    [OLD],
  );
  await db.sql(
    `insert into credit_transactions (user_id, type, amount, balance_after, payment_id, description)
     values ($1, 'PURCHASE', 50, 250, $2, 'purchase')`,
    [OLD, payment.id],
  );
  await db.sql(`insert into credit_balances (user_id, balance) values ($1, 250)`, [OLD]);
  await db.sql(`insert into activity_logs (user_id, action) values ($1, 'profile.update')`, [OLD]);
  await db.sql(
    `insert into notifications (user_id, type, title, message)
     values ($1, (enum_range(null::notification_type))[1], 'Hello', 'World')`,
    [OLD],
  );

  const org = await one(`insert into organizations (name, slug) values ('Rekey Org', 'rekey-org') returning id`);
  const orgRole = await one(`insert into organization_roles (org_id, name) values ($1, 'Owner') returning id`, [org.id]);
  await db.sql(`insert into organization_members (org_id, user_id, role_id) values ($1, $2, $3)`, [org.id, OLD, orgRole.id]);
  const orgAudit = await one(
    `insert into organization_audit_logs (org_id, actor_id, action) values ($1, $2, 'org.create') returning id`,
    [org.id, OLD],
  );
  await db.sql(`insert into organization_audit_logs (org_id, actor_id, action) values ($1, null, 'org.system')`, [org.id]);
  const team = await one(`insert into teams (org_id, name, slug) values ($1, 'Rekey Team', 'rekey-team') returning id`, [org.id]);
  await db.sql(`insert into team_audit_logs (team_id, actor_id, action) values ($1, $2, 'team.create')`, [team.id, OLD]);
  const project = await one(
    `insert into projects (team_id, name, slug, created_by, updated_by) values ($1, 'Rekey Project', 'rekey-project', $2, $2) returning id`,
    [team.id, OLD],
  );
  await db.sql(`insert into project_audit_logs (project_id, actor_id, action) values ($1, $2, 'project.create')`, [
    project.id,
    OLD,
  ]);

  // OTHER's rows must not move.
  await db.sql(
    `insert into credit_transactions (user_id, type, amount, balance_after, description) values ($1, 'BONUS', 5, 5, 'other')`,
    [OTHER],
  );
  await db.sql(`insert into organization_audit_logs (org_id, actor_id, action) values ($1, $2, 'org.update')`, [org.id, OTHER]);

  ids = { orgId: org.id, teamId: team.id, projectId: project.id, ledgerId: ledger.id, orgAuditId: orgAudit.id };
});

async function count(table: string, column: string, userId: string): Promise<number> {
  const row = await one<{ n: number }>(`select count(*)::int as n from ${table} where ${column} = $1`, [userId]);
  return row.n;
}

describe('user re-key (account recovery)', () => {
  it('every FK to users.id is ON UPDATE CASCADE', async () => {
    const { rows } = await db.sql<{ name: string }>(
      `select conrelid::regclass || '.' || conname as name from pg_constraint
       where contype = 'f' and confrelid = 'users'::regclass and confupdtype <> 'c'`,
    );
    expect(rows).toEqual([]);
  });

  it('no trigger refuses every UPDATE on a table that has a user FK', async () => {
    const { rows } = await db.sql<{ name: string }>(
      `select t.tgrelid::regclass || '.' || t.tgname as name
       from pg_trigger t
       where not t.tgisinternal
         and (t.tgtype & 16) <> 0                        -- fires on UPDATE
         and t.tgfoid = 'fa_reject_write()'::regprocedure
         and exists (select 1 from pg_constraint c
                     where c.contype = 'f' and c.conrelid = t.tgrelid and c.confrelid = 'users'::regclass)`,
    );
    expect(rows).toEqual([]);
  });

  it('moves profile, settings, stars, views, ledger, balance, activity, audit, membership, payment rows to the new id', async () => {
    const columns = [
      ['profiles', 'user_id', 1],
      ['settings', 'user_id', 1],
      ['profile_stars', 'user_id', 1],
      ['profile_views', 'viewer_user_id', 1],
      ['payments', 'user_id', 1],
      ['credit_transactions', 'user_id', 2],
      ['credit_balances', 'user_id', 1],
      ['activity_logs', 'user_id', 1],
      ['notifications', 'user_id', 1],
      ['organization_members', 'user_id', 1],
      ['organization_audit_logs', 'actor_id', 1],
      ['team_audit_logs', 'actor_id', 1],
      ['project_audit_logs', 'actor_id', 1],
      ['projects', 'created_by', 1],
      ['projects', 'updated_by', 1],
    ] as const;

    // Soft-delete, then recover under the new Clerk id in one transaction-sized statement.
    await db.sql(`update users set deleted_at = now() - interval '3 days' where id = $1`, [OLD]);
    await db.sql(`update users set id = $1, deleted_at = null where id = $2`, [NEW, OLD]);

    const users = await db.sql<{ id: string; deleted_at: Date | null }>(
      `select id, deleted_at from users where id in ($1, $2, $3) order by id`,
      [OLD, NEW, OTHER],
    );
    expect(users.rows).toEqual([
      { id: NEW, deleted_at: null },
      { id: OTHER, deleted_at: null },
    ]);

    for (const [table, column, expected] of columns) {
      expect({ table, column, old: await count(table, column, OLD) }).toEqual({ table, column, old: 0 });
      expect({ table, column, new: await count(table, column, NEW) }).toEqual({ table, column, new: expected });
    }

    // The ledger kept its content and order; only user_id changed.
    const ledger = await db.sql<{ user_id: string; type: string; amount: number; balance_after: number }>(
      `select user_id, type, amount, balance_after from credit_transactions order by seq`,
    );
    expect(ledger.rows).toEqual([
      { user_id: NEW, type: 'INITIAL_ALLOCATION', amount: 200, balance_after: 200 },
      { user_id: NEW, type: 'PURCHASE', amount: 50, balance_after: 250 },
      { user_id: OTHER, type: 'BONUS', amount: 5, balance_after: 5 },
    ]);
    const audit = await db.sql<{ actor_id: string | null; action: string }>(
      `select actor_id, action from organization_audit_logs where org_id = $1 order by action`,
      [ids.orgId],
    );
    expect(audit.rows).toEqual([
      { actor_id: NEW, action: 'org.create' },
      { actor_id: null, action: 'org.system' },
      { actor_id: OTHER, action: 'org.update' },
    ]);
  });

  it('still refuses a non-rekey UPDATE of a ledger row and of an audit row', async () => {
    await expect(
      db.sql(`update credit_transactions set amount = 1000 where id = $1`, [ids.ledgerId]),
    ).rejects.toMatchObject({ code: 'FA001' });
    await expect(
      db.sql(`update credit_transactions set amount = 1000 where id = $1`, [ids.ledgerId]),
    ).rejects.toThrow(/credit_transactions is append-only/);
    // A no-op UPDATE is refused too (as before).
    await expect(
      db.sql(`update credit_transactions set amount = amount where id = $1`, [ids.ledgerId]),
    ).rejects.toMatchObject({ code: 'FA001' });
    // Changing the user id together with anything else is not a re-key.
    await expect(
      db.sql(`update credit_transactions set user_id = $2, amount = 1000 where id = $1`, [ids.ledgerId, OTHER]),
    ).rejects.toMatchObject({ code: 'FA001' });

    for (const [table, parent, parentId] of [
      ['organization_audit_logs', 'org_id', ids.orgId],
      ['team_audit_logs', 'team_id', ids.teamId],
      ['project_audit_logs', 'project_id', ids.projectId],
    ] as const) {
      await expect(
        db.sql(`update ${table} set action = 'tampered' where ${parent} = $1`, [parentId]),
      ).rejects.toMatchObject({ code: 'FA001', message: `${table} is append-only` });
    }
    await expect(
      db.sql(`update activity_logs set action = 'tampered' where user_id = $1`, [NEW]),
    ).rejects.toMatchObject({ code: 'FA001', message: 'activity_logs is append-only (UPDATE is not allowed)' });

    const row = await one<{ amount: number }>(`select amount from credit_transactions where id = $1`, [ids.ledgerId]);
    expect(row.amount).toBe(200);
    const auditRow = await one<{ action: string }>(`select action from organization_audit_logs where id = $1`, [
      ids.orgAuditId,
    ]);
    expect(auditRow.action).toBe('org.create');
  });

  it('refuses moving ledger or audit rows directly between two existing users', async () => {
    await expect(
      db.sql(`update credit_transactions set user_id = $2 where id = $1`, [ids.ledgerId, OTHER]),
    ).rejects.toMatchObject({ code: 'FA001', message: 'credit_transactions is append-only' });
    await expect(
      db.sql(`update organization_audit_logs set actor_id = $2 where id = $1`, [ids.orgAuditId, OTHER]),
    ).rejects.toMatchObject({ code: 'FA001', message: 'organization_audit_logs is append-only' });
    // A system (null-actor) audit row cannot be attributed to a user afterwards either.
    await expect(
      db.sql(`update organization_audit_logs set actor_id = $2 where org_id = $1 and actor_id is null`, [ids.orgId, OTHER]),
    ).rejects.toMatchObject({ code: 'FA001' });

    expect(await count('credit_transactions', 'user_id', NEW)).toBe(2);
    expect(await count('organization_audit_logs', 'actor_id', NEW)).toBe(1);
  });

  it('DELETE of a ledger row and of an audit row is still refused; activity-log retention DELETE still works', async () => {
    await expect(db.sql(`delete from credit_transactions where id = $1`, [ids.ledgerId])).rejects.toMatchObject({
      code: 'FA001',
      message: 'credit_transactions is append-only',
    });
    await expect(db.sql(`delete from organization_audit_logs where id = $1`, [ids.orgAuditId])).rejects.toMatchObject({
      code: 'FA001',
      message: 'organization_audit_logs is append-only',
    });
    expect(await count('credit_transactions', 'user_id', NEW)).toBe(2);

    await db.sql(`delete from activity_logs where user_id = $1`, [NEW]);
    expect(await count('activity_logs', 'user_id', NEW)).toBe(0);
  });
});
