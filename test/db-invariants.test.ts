import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/db';

// The money and identity rules the database itself enforces (docs/ARCHITECTURE.md, "Data model invariants").
// Each test proves both halves: the good write succeeds, the bad write is refused by the named
// constraint or trigger. Raw SQL on purpose: no service code is involved.

const db = useTestDatabase();

const USERS = ['user_inv_1', 'user_inv_2', 'user_inv_3', 'user_inv_4', 'user_inv_5', 'user_inv_6', 'user_inv_7', 'user_inv_8'];

beforeAll(async () => {
  for (const id of USERS) {
    await db.sql(`insert into users (id, email) values ($1, $2)`, [id, `${id}@example.test`]);
  }
});

async function ledger(userId: string, type: string, amount: number, balanceAfter: number, paymentId: string | null = null) {
  return db.sql<{ id: string }>(
    `insert into credit_transactions (user_id, type, amount, balance_after, payment_id, description)
     values ($1, $2, $3, $4, $5, 'test') returning id`,
    [userId, type, amount, balanceAfter, paymentId],
  );
}

async function payment(userId: string, orderId: string, razorpayPaymentId: string | null = null) {
  const { rows } = await db.sql<{ id: string }>(
    `insert into payments (user_id, razorpay_order_id, razorpay_payment_id, plan_id, plan_name, amount, credits)
     values ($1, $2, $3, 'basic_plan', 'Basic', 89900, 50) returning id`,
    [userId, orderId, razorpayPaymentId],
  );
  return rows[0]!.id;
}

describe('database invariants', () => {
  it('1. credit_transactions is append-only (UPDATE and DELETE refused by trigger)', async () => {
    const { rows } = await ledger('user_inv_1', 'BONUS', 10, 10);
    const id = rows[0]!.id;

    await expect(db.sql(`update credit_transactions set amount = 1000 where id = $1`, [id])).rejects.toThrow(
      /credit_transactions is append-only/,
    );
    await expect(db.sql(`update credit_transactions set amount = 1000 where id = $1`, [id])).rejects.toMatchObject({
      code: 'FA001',
    });
    await expect(db.sql(`delete from credit_transactions where id = $1`, [id])).rejects.toThrow(
      /credit_transactions is append-only/,
    );

    const after = await db.sql<{ amount: number }>(`select amount from credit_transactions where id = $1`, [id]);
    expect(after.rows).toEqual([{ amount: 10 }]);
  });

  it('2. a balance is never negative (CHECK on credit_balances.balance and credit_transactions.balance_after)', async () => {
    await db.sql(`insert into credit_balances (user_id, balance) values ('user_inv_2', 5)`);
    await db.sql(`update credit_balances set balance = 0 where user_id = 'user_inv_2'`);
    await expect(db.sql(`update credit_balances set balance = -1 where user_id = 'user_inv_2'`)).rejects.toThrow(
      /credit_balances_balance_nonnegative_chk/,
    );
    await expect(db.sql(`insert into credit_balances (user_id, balance) values ('user_inv_3', -5)`)).rejects.toThrow(
      /credit_balances_balance_nonnegative_chk/,
    );

    await ledger('user_inv_2', 'BONUS', 5, 5);
    await ledger('user_inv_2', 'DEDUCTION', -5, 0);
    await expect(ledger('user_inv_2', 'DEDUCTION', -1, -1)).rejects.toThrow(
      /credit_transactions_balance_after_nonnegative_chk/,
    );

    const balance = await db.sql<{ balance: number }>(`select balance from credit_balances where user_id = 'user_inv_2'`);
    expect(balance.rows).toEqual([{ balance: 0 }]);
  });

  it('3. at most one free-credit grant (INITIAL_ALLOCATION) per user', async () => {
    await ledger('user_inv_3', 'INITIAL_ALLOCATION', 200, 200);
    await expect(ledger('user_inv_3', 'INITIAL_ALLOCATION', 200, 400)).rejects.toThrow(
      /credit_transactions_one_initial_allocation_uq/,
    );
    // Other credit types for the same user, and the grant for another user, are fine.
    await ledger('user_inv_3', 'BONUS', 10, 210);
    await ledger('user_inv_4', 'INITIAL_ALLOCATION', 200, 200);

    const grants = await db.sql<{ n: number }>(
      `select count(*)::int as n from credit_transactions where type = 'INITIAL_ALLOCATION' and user_id = 'user_inv_3'`,
    );
    expect(grants.rows[0]!.n).toBe(1);
  });

  it('4. at most one PURCHASE credit per payment; refunds may reference the same payment', async () => {
    const paymentId = await payment('user_inv_4', 'order_inv_4');
    await ledger('user_inv_4', 'PURCHASE', 50, 250, paymentId);
    await expect(ledger('user_inv_4', 'PURCHASE', 50, 300, paymentId)).rejects.toThrow(
      /credit_transactions_one_purchase_per_payment_uq/,
    );
    // The original made credit_transactions.payment_id globally unique, so refunds could never be booked.
    await ledger('user_inv_4', 'REFUND', -50, 200, paymentId);

    const rows = await db.sql<{ type: string }>(
      `select type from credit_transactions where payment_id = $1 order by seq`,
      [paymentId],
    );
    expect(rows.rows.map((r) => r.type)).toEqual(['PURCHASE', 'REFUND']);
  });

  it('5. Razorpay payment ids and webhook event ids are unique', async () => {
    await payment('user_inv_5', 'order_inv_5a', 'pay_inv_5');
    await expect(payment('user_inv_5', 'order_inv_5b', 'pay_inv_5')).rejects.toThrow(/payments_razorpay_payment_id_uq/);
    // Pending payments have no payment id yet: several NULLs are fine.
    await payment('user_inv_5', 'order_inv_5c');
    await payment('user_inv_5', 'order_inv_5d');

    const insertEvent = (eventId: string | null) =>
      db.sql(
        `insert into payment_webhook_events (razorpay_event_id, event_type, payload) values ($1, 'payment.captured', '{}'::jsonb)`,
        [eventId],
      );
    await insertEvent('evt_inv_1');
    await insertEvent('evt_inv_2'); // same event type, different event id: accepted (the key is the event id, not its type)
    await expect(insertEvent('evt_inv_1')).rejects.toThrow(/payment_webhook_events_razorpay_event_id_uq/);
    await expect(insertEvent(null)).rejects.toThrow(/razorpay_event_id/);
  });

  it('6. a verified phone number belongs to one user only', async () => {
    const phone = '+919876500006';
    await db.sql(`update users set phone_number = $1, phone_verified_at = now() where id = 'user_inv_6'`, [phone]);
    // Another user may type the same number while unverified...
    await db.sql(`update users set phone_number = $1 where id = 'user_inv_7'`, [phone]);
    // ...but cannot verify it.
    await expect(db.sql(`update users set phone_verified_at = now() where id = 'user_inv_7'`)).rejects.toThrow(
      /users_phone_verified_uq/,
    );
    await db.sql(`update users set phone_number = '+919876500007', phone_verified_at = now() where id = 'user_inv_7'`);

    const verified = await db.sql<{ id: string }>(
      `select id from users where phone_number = $1 and phone_verified_at is not null`,
      [phone],
    );
    expect(verified.rows).toEqual([{ id: 'user_inv_6' }]);
  });

  it('7. audit logs are append-only; activity logs refuse UPDATE but allow retention DELETE', async () => {
    const { rows: orgs } = await db.sql<{ id: string }>(
      `insert into organizations (name, slug) values ('Invariant Org', 'invariant-org') returning id`,
    );
    const orgId = orgs[0]!.id;
    const { rows: teams } = await db.sql<{ id: string }>(
      `insert into teams (org_id, name, slug) values ($1, 'Invariant Team', 'invariant-team') returning id`,
      [orgId],
    );
    const teamId = teams[0]!.id;
    const { rows: projects } = await db.sql<{ id: string }>(
      `insert into projects (team_id, name, slug, created_by) values ($1, 'Invariant Project', 'invariant-project', 'user_inv_8') returning id`,
      [teamId],
    );
    const projectId = projects[0]!.id;

    for (const [table, column, parentId] of [
      ['organization_audit_logs', 'org_id', orgId],
      ['team_audit_logs', 'team_id', teamId],
      ['project_audit_logs', 'project_id', projectId],
    ] as const) {
      const { rows } = await db.sql<{ id: string }>(
        `insert into ${table} (${column}, actor_id, action, changes) values ($1, 'user_inv_8', 'test.create', '{"after":{}}'::jsonb) returning id`,
        [parentId],
      );
      const id = rows[0]!.id;
      await expect(db.sql(`update ${table} set action = 'tampered' where id = $1`, [id])).rejects.toThrow(
        new RegExp(`${table} is append-only`),
      );
      await expect(db.sql(`delete from ${table} where id = $1`, [id])).rejects.toThrow(
        new RegExp(`${table} is append-only`),
      );
      const still = await db.sql<{ action: string }>(`select action from ${table} where id = $1`, [id]);
      expect(still.rows).toEqual([{ action: 'test.create' }]);
    }

    const { rows: logs } = await db.sql<{ id: string }>(
      `insert into activity_logs (user_id, action) values ('user_inv_8', 'profile.update') returning id`,
    );
    const logId = logs[0]!.id;
    await expect(db.sql(`update activity_logs set action = 'tampered' where id = $1`, [logId])).rejects.toThrow(
      /activity_logs is append-only/,
    );
    await db.sql(`delete from activity_logs where id = $1`, [logId]);
    const gone = await db.sql(`select 1 from activity_logs where id = $1`, [logId]);
    expect(gone.rows).toHaveLength(0);
  });

  it('8. plans and payments cannot be deleted', async () => {
    // Plans are retired by deactivation, which is allowed.
    await db.sql(`update plans set is_active = false where plan_id = 'enterprise_plan'`);
    await db.sql(`update plans set is_active = true where plan_id = 'enterprise_plan'`);
    await expect(db.sql(`delete from plans where plan_id = 'enterprise_plan'`)).rejects.toThrow(/plans cannot be deleted/);

    const paymentId = await payment('user_inv_8', 'order_inv_8');
    await db.sql(`update payments set status = 'CANCELLED' where id = $1`, [paymentId]);
    await expect(db.sql(`delete from payments where id = $1`, [paymentId])).rejects.toThrow(/payments cannot be deleted/);

    const count = await db.sql<{ n: number }>(`select count(*)::int as n from plans`);
    expect(count.rows[0]!.n).toBe(3);
  });
});

describe('plan seed', () => {
  it('has exactly the three plans, amounts in paise, INR', async () => {
    const { rows } = await db.sql(
      `select plan_id, name, amount, currency, credits, is_active from plans order by amount`,
    );
    expect(rows).toEqual([
      { plan_id: 'enterprise_plan', name: 'Enterprise', amount: 0, currency: 'INR', credits: 0, is_active: true },
      { plan_id: 'basic_plan', name: 'Basic', amount: 89900, currency: 'INR', credits: 50, is_active: true },
      { plan_id: 'business_plan', name: 'Business', amount: 299900, currency: 'INR', credits: 300, is_active: true },
    ]);
  });
});
