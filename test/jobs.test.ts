import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import worker from '../src/index';
import { weekOf } from '../src/services/feedback/week';
import { sha256Hex } from '../src/lib/crypto';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

const DAY = 86_400_000;
const DAILY = '0 6 * * *';
const WEEKLY = '0 10 * * 0';

/** Run a cron through the worker's scheduled() with a controlled clock (the scheduled time is the job's "now"). */
async function runCron(cron: string, scheduledTime: number, env: Env = db.env) {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ scheduledTime, cron }), env, ctx);
  await waitOnExecutionContext(ctx);
  const { rows } = await db.sql<{ status: string; counts: Record<string, number>; finished_at: Date | null }>(
    `select status, counts, finished_at from job_runs where job = $1 order by started_at desc limit 1`,
    [cron === DAILY ? 'daily-cleanup' : 'weekly-feedback'],
  );
  return rows[0]!;
}

const at = (t: number) => new Date(t).toISOString();
const hex64 = () => Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, '0')).join('');
const ids = async (sql: string, params: unknown[] = []) => (await db.sql<{ id: string }>(sql, params)).rows.map((r) => r.id).sort();

describe('daily-cleanup (cron 0 6 * * *)', () => {
  it('deletes exactly what is past retention, anonymises old deleted accounts, cancels stale payments; a second run is a no-op', async () => {
    const T = Date.now();
    const owner = await signUp(db);

    // ── invites (30 days after expiry / use / decline / revoke)
    const org = (await db.sql<{ id: string }>(`insert into organizations (name, slug) values ('Cleanup Org', 'cleanup-org') returning id`)).rows[0]!.id;
    const orgRole = (await db.sql<{ id: string }>(`insert into organization_roles (org_id, name) values ($1, 'Member') returning id`, [org])).rows[0]!.id;
    const team = (await db.sql<{ id: string }>(`insert into teams (org_id, name, slug) values ($1, 'Cleanup Team', 'cleanup-team') returning id`, [org])).rows[0]!.id;
    const teamRole = (await db.sql<{ id: string }>(`insert into team_roles (team_id, name) values ($1, 'Member') returning id`, [team])).rows[0]!.id;
    const invite = async (table: 'organization_invites' | 'team_invites', f: { created: number; expires: number; used?: number; declined?: number; revoked?: number }) => {
      const [scope, scopeId, roleId] = table === 'organization_invites' ? ['org_id', org, orgRole] : ['team_id', team, teamRole];
      const declined = table === 'organization_invites' ? '' : ', declined_at';
      const values = [scopeId, `x-${crypto.randomUUID()}@example.test`, roleId, hex64(), at(f.expires), owner.id, at(f.created), f.used ? at(f.used) : null, f.used ? owner.id : null, f.revoked ? at(f.revoked) : null];
      if (declined) values.push(f.declined ? at(f.declined) : null);
      return (
        await db.sql<{ id: string }>(
          `insert into ${table} (${scope}, email, role_id, code_hash, expires_at, created_by, created_at, used_at, used_by, revoked_at${declined})
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10${declined ? ', $11' : ''}) returning id`,
          values,
        )
      ).rows[0]!.id;
    };
    const goneInvites = [
      await invite('organization_invites', { created: T - 40 * DAY, expires: T - 31 * DAY }),
      await invite('organization_invites', { created: T - 40 * DAY, expires: T + 5 * DAY, used: T - 31 * DAY }),
      await invite('team_invites', { created: T - 40 * DAY, expires: T + 5 * DAY, declined: T - 31 * DAY }),
      await invite('team_invites', { created: T - 50 * DAY, expires: T - 43 * DAY }),
    ];
    const keptInvites = [
      await invite('organization_invites', { created: T - 36 * DAY, expires: T - 29 * DAY }),
      await invite('team_invites', { created: T - 20 * DAY, expires: T + 5 * DAY, revoked: T - 10 * DAY }),
      await invite('team_invites', { created: T - DAY, expires: T + 6 * DAY }),
    ];

    // ── notifications (read and older than 90 days)
    const note = async (readAt: number | null, created: number) =>
      (await db.sql<{ id: string }>(`insert into notifications (user_id, type, title, message, read_at, created_at) values ($1, 'SYSTEM', 't', 'm', $2, $3) returning id`, [owner.id, readAt === null ? null : at(readAt), at(created)])).rows[0]!.id;
    const goneNote = await note(T - 80 * DAY, T - 91 * DAY);
    const keptNotes = [await note(null, T - 91 * DAY), await note(T - DAY, T - 89 * DAY)];

    // ── outbox / processed_events / webhook_deliveries
    const outboxRow = async (relayed: number | null, created: number, processed: number | null) => {
      const id = (await db.sql<{ id: string }>(`insert into outbox (event_name, payload, created_at, relayed_at) values ('user.created', '{"userId":"x"}', $1, $2) returning id`, [at(created), relayed === null ? null : at(relayed)])).rows[0]!.id;
      if (processed !== null) await db.sql(`insert into processed_events (event_id, handler, processed_at) values ($1, 'welcome-email', $2)`, [id, at(processed)]);
      return id;
    };
    const goneOutbox = [await outboxRow(T - 8 * DAY, T - 8 * DAY, T - 8 * DAY), await outboxRow(T - 15 * DAY, T - 15 * DAY, null)];
    const keptOutbox = [await outboxRow(T - 8 * DAY, T - 8 * DAY, null), await outboxRow(null, T - 20 * DAY, null), await outboxRow(T - 6 * DAY, T - 6 * DAY, T - 6 * DAY)];
    await db.sql(`insert into processed_events (event_id, handler, processed_at) values ($1, 'old', $2), ($3, 'recent', $4)`, [crypto.randomUUID(), at(T - 31 * DAY), crypto.randomUUID(), at(T - 29 * DAY)]);
    await db.sql(`insert into webhook_deliveries (source, delivery_id, received_at) values ('github', 'old', $1), ('github', 'recent', $2)`, [at(T - 31 * DAY), at(T - 29 * DAY)]);

    // ── weekly feedback bookkeeping (90 days)
    await db.sql(`insert into weekly_feedback_mailings (user_id, week_of, created_at) values ($1, $2, $3), ($1, $4, $5)`, [
      owner.id,
      weekOf(new Date(T - 100 * DAY)),
      at(T - 100 * DAY),
      weekOf(new Date(T - 7 * DAY)),
      at(T - 7 * DAY),
    ]);
    const fb = async (kind: string, used: boolean, created: number) =>
      (await db.sql<{ id: string }>(`insert into feedback (kind, code, user_id, rating, used_at, created_at) values ($1, $2, $3, $4, $5, $6) returning id`, [
        kind,
        kind === 'weekly' ? crypto.randomUUID() + 'abc' : null,
        kind === 'general' ? owner.id : null,
        used ? 3 : null,
        used ? at(created + DAY) : null,
        at(created),
      ])).rows[0]!.id;
    const goneFeedback = await fb('weekly', false, T - 91 * DAY);
    const keptFeedback = [await fb('weekly', true, T - 91 * DAY), await fb('general', true, T - 91 * DAY), await fb('weekly', false, T - 89 * DAY)];

    // ── users: deleted 31 days ago (anonymised), 29 days ago (still recoverable), already anonymised
    const old = await signUp(db, { firstName: 'Olga', lastName: 'Old', profile: { bio: 'I build things', skills: '{ts,sql}', is_public: true, github_username: 'olga', company: 'Acme' } });
    await db.sql(`update users set deleted_at = $2, phone_number = '+919876543210', phone_verified_at = $2, username = 'olga', image_url = 'https://img.example/o.png' where id = $1`, [old.id, at(T - 31 * DAY)]);
    await db.sql(`insert into ai_sessions (user_id, title) values ($1, 'my secrets')`, [old.id]);
    await db.sql(`insert into credit_transactions (user_id, amount, balance_after, type, description) values ($1, 50, 50, 'BONUS', 'kept')`, [old.id]);
    await db.sql(`insert into activity_logs (user_id, action, metadata) values ($1, 'stepup.granted', '{"ip":"198.51.100.99","userAgent":"OlgaBrowser/1.0"}')`, [old.id]);
    await db.sql(`insert into organization_audit_logs (org_id, actor_id, action) values ($1, $2, 'org.update')`, [org, old.id]);
    await db.sql(`insert into notifications (user_id, type, title, message) values ($1, 'STAR', 'New star on your profile', 'Someone starred your profile.')`, [old.id]);
    const oldTicket = (await db.sql<{ id: string }>(`insert into support_tickets (user_id, email, subject, message) values ($1, 'olga@private.example', 'My address', 'I live at 1 Secret Street') returning id`, [old.id])).rows[0]!.id;
    const oldFeedback = (await db.sql<{ id: string }>(`insert into feedback (kind, user_id, message, rating) values ('general', $1, 'Olga thinks the UI is slow', 2) returning id`, [old.id])).rows[0]!.id;
    keptFeedback.push(oldFeedback); // the row stays, its text goes
    // the same kinds of rows of an active user are untouched
    await db.sql(`insert into activity_logs (user_id, action, metadata) values ($1, 'stepup.granted', '{"ip":"198.51.100.1"}')`, [owner.id]);
    // activity-log rows hold IP addresses: kept ACTIVITY_LOG_RETENTION_DAYS (default 60) days
    await db.sql(`insert into activity_logs (user_id, action, metadata, created_at) values ($1, 'old.entry', '{"ip":"198.51.100.61"}', $2), ($1, 'recent.entry', '{"ip":"198.51.100.59"}', $3)`, [
      owner.id,
      at(T - 61 * DAY),
      at(T - 59 * DAY),
    ]);
    // last errors of handlers (30 days)
    await db.sql(`insert into handler_failures (event_id, handler, attempts, last_error, failed_at) values ($1, 'old', 6, 'e', $2), ($3, 'recent', 6, 'e', $4)`, [
      crypto.randomUUID(),
      at(T - 31 * DAY),
      crypto.randomUUID(),
      at(T - 29 * DAY),
    ]);
    const ownerTicket = (await db.sql<{ id: string }>(`insert into support_tickets (user_id, subject, message) values ($1, 'Owner asks', 'Owner message text') returning id`, [owner.id])).rows[0]!.id;
    const recent = await signUp(db, { firstName: 'Rene' });
    await db.sql(`update users set deleted_at = $2 where id = $1`, [recent.id, at(T - 29 * DAY)]);
    const done = await signUp(db);
    await db.sql(`update users set deleted_at = $2, anonymized_at = $3, email = 'deleted+already@anonymized.invalid' where id = $1`, [done.id, at(T - 60 * DAY), at(T - 30 * DAY)]);

    // ── payments: PENDING older than 24 h → CANCELLED (backstop)
    const payment = async (status: string, created: number) =>
      (await db.sql<{ id: string }>(
        `insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits, status, created_at) values ($1, $2, 'basic_plan', 'Basic Plan', 89900, 50, $3, $4) returning id`,
        [owner.id, `order_${crypto.randomUUID().slice(0, 12)}`, status, at(created)],
      )).rows[0]!.id;
    const stale = await payment('PENDING', T - 25 * 3_600_000);
    const fresh = await payment('PENDING', T - 23 * 3_600_000);
    const failed = await payment('FAILED', T - 30 * DAY);
    const oldPayment = (await db.sql<{ id: string }>(`insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits, status, created_at) values ($1, 'order_old_user', 'basic_plan', 'Basic Plan', 89900, 50, 'FAILED', $2) returning id`, [old.id, at(T - 40 * DAY)])).rows[0]!.id;
    await db.sql(`update payments set ip_address = '198.51.100.99', user_agent = 'OlgaBrowser/1.0' where id = $1`, [oldPayment]);
    const ownerPayment = (await db.sql<{ id: string }>(
      `insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits, status, ip_address, user_agent, created_at) values ($1, 'order_owner_ip', 'basic_plan', 'Basic Plan', 89900, 50, 'FAILED', '198.51.100.1', 'OwnerBrowser/1.0', $2) returning id`,
      [owner.id, at(T - 2 * DAY)],
    )).rows[0]!.id;

    // Expired Idempotency-Key records, an old dev-mailbox row and old cron history go; fresh ones stay.
    await db.sql(`insert into idempotency_keys (user_id, key, request_hash, expires_at) values ($1, 'expired', 'h', $2), ($1, 'live', 'h', $3)`, [owner.id, at(T - 1000), at(T + DAY)]);
    await db.sql(`insert into dev_emails ("to", subject, created_at) values ('old@example.test', 'old', $1), ('new@example.test', 'new', $2)`, [at(T - 31 * DAY), at(T - 29 * DAY)]);
    await db.sql(`insert into job_runs (job, started_at, status) values ('weekly-feedback', $1, 'succeeded'), ('weekly-feedback', $2, 'succeeded')`, [at(T - 91 * DAY), at(T - 89 * DAY)]);
    // Assistant proposals: one expired two days ago goes, one expired an hour ago stays.
    await db.sql(`insert into ai_pending_actions (user_id, tool, changes, expires_at) values ($1, 'update_user_profile', '{"bio":"old"}', $2), ($1, 'update_user_profile', '{"bio":"recent"}', $3)`, [
      owner.id,
      at(T - 2 * DAY),
      at(T - 3600_000),
    ]);

    // ── run
    const first = await runCron(DAILY, T);
    expect(first.status).toBe('succeeded');
    expect(first.finished_at).not.toBeNull();
    expect(first.counts).toEqual({
      invites: 4,
      notifications: 1,
      outbox: 2,
      processedEvents: 1,
      handlerFailures: 1,
      webhookDeliveries: 1,
      weeklyFeedbackMailings: 1,
      unusedFeedbackCodes: 1,
      idempotencyKeys: 1,
      devEmails: 1,
      jobRuns: 1,
      aiPendingActions: 1,
      activityLogs: 1,
      anonymizedUsers: 1,
      cancelledPayments: 1,
    });

    const allInvites = await ids(`select id from organization_invites union all select id from team_invites`);
    expect(allInvites).toEqual([...keptInvites].sort());
    expect((await db.sql(`select key from idempotency_keys where user_id = $1`, [owner.id])).rows).toEqual([{ key: 'live' }]);
    expect((await db.sql(`select subject from dev_emails where subject in ('old', 'new')`)).rows).toEqual([{ subject: 'new' }]);
    expect((await db.sql(`select count(*)::int as n from job_runs where job = 'weekly-feedback'`)).rows).toEqual([{ n: 1 }]);
    expect((await db.sql(`select changes from ai_pending_actions where user_id = $1`, [owner.id])).rows).toEqual([{ changes: { bio: 'recent' } }]);
    expect(goneInvites.some((id) => allInvites.includes(id))).toBe(false);
    expect(await ids(`select id from notifications where user_id = $1`, [owner.id])).toEqual([...keptNotes].sort());
    expect(keptNotes).not.toContain(goneNote);
    expect(await ids(`select id from outbox`)).toEqual([...keptOutbox].sort());
    expect(goneOutbox.some((id) => keptOutbox.includes(id))).toBe(false);
    expect((await db.sql(`select handler from processed_events where handler in ('old', 'recent')`)).rows).toEqual([{ handler: 'recent' }]);
    expect((await db.sql(`select delivery_id from webhook_deliveries`)).rows).toEqual([{ delivery_id: 'recent' }]);
    expect((await db.sql(`select week_of::text from weekly_feedback_mailings`)).rows).toEqual([{ week_of: weekOf(new Date(T - 7 * DAY)) }]);
    expect(await ids(`select id from feedback`)).toEqual([...keptFeedback].sort());
    expect(keptFeedback).not.toContain(goneFeedback);

    const [anon] = (await db.sql<any>(`select * from users where id = $1`, [old.id])).rows;
    expect(anon).toMatchObject({
      email: `deleted+${(await sha256Hex(old.id)).slice(0, 16)}@anonymized.invalid`,
      first_name: null,
      last_name: null,
      username: null,
      image_url: null,
      phone_number: null,
      phone_verified_at: null,
    });
    expect(new Date(anon.anonymized_at).getTime()).toBe(T);
    const [profile] = (await db.sql<any>(`select bio, skills, is_public, github_username, company from profiles where user_id = $1`, [old.id])).rows;
    expect(profile).toEqual({ bio: '', skills: [], is_public: false, github_username: null, company: null });
    expect((await db.sql(`select 1 from ai_sessions where user_id = $1`, [old.id])).rows).toHaveLength(0);
    // activity log (IPs, user agents) and notifications are deleted
    expect((await db.sql(`select 1 from activity_logs where user_id = $1`, [old.id])).rows).toHaveLength(0);
    expect((await db.sql(`select 1 from notifications where user_id = $1`, [old.id])).rows).toHaveLength(0);
    // support tickets and general feedback stay, without their text or address
    expect((await db.sql(`select id, user_id, email, subject, message from support_tickets where user_id = $1`, [old.id])).rows).toEqual([
      { id: oldTicket, user_id: old.id, email: null, subject: '[deleted]', message: '[deleted]' },
    ]);
    expect((await db.sql(`select message, rating from feedback where id = $1`, [oldFeedback])).rows).toEqual([{ message: null, rating: 2 }]);
    // ledger, audit and payment rows are kept; the payment without its IP and user agent
    expect((await db.sql(`select 1 from credit_transactions where user_id = $1`, [old.id])).rows).toHaveLength(1);
    expect((await db.sql(`select 1 from organization_audit_logs where actor_id = $1`, [old.id])).rows).toHaveLength(1);
    expect((await db.sql(`select status, amount, ip_address, user_agent from payments where id = $1`, [oldPayment])).rows).toEqual([
      { status: 'FAILED', amount: 89900, ip_address: null, user_agent: null },
    ]);
    // nothing of the active user is scrubbed
    expect((await db.sql(`select ip_address, user_agent from payments where id = $1`, [ownerPayment])).rows).toEqual([{ ip_address: '198.51.100.1', user_agent: 'OwnerBrowser/1.0' }]);
    expect((await db.sql(`select subject, message from support_tickets where id = $1`, [ownerTicket])).rows).toEqual([{ subject: 'Owner asks', message: 'Owner message text' }]);
    expect((await db.sql(`select metadata from activity_logs where user_id = $1 and action = 'stepup.granted'`, [owner.id])).rows).toEqual([{ metadata: { ip: '198.51.100.1' } }]);
    expect((await db.sql(`select action from activity_logs where user_id = $1 and action like '%.entry'`, [owner.id])).rows).toEqual([{ action: 'recent.entry' }]);
    expect((await db.sql(`select handler from handler_failures`)).rows).toEqual([{ handler: 'recent' }]);
    // the recoverable and the already-anonymised accounts are untouched
    expect((await db.sql(`select email, first_name, anonymized_at from users where id = $1`, [recent.id])).rows).toEqual([{ email: recent.email, first_name: 'Rene', anonymized_at: null }]);
    expect((await db.sql<any>(`select email, anonymized_at from users where id = $1`, [done.id])).rows[0]).toMatchObject({ email: 'deleted+already@anonymized.invalid' });
    expect(new Date((await db.sql<any>(`select anonymized_at from users where id = $1`, [done.id])).rows[0].anonymized_at).getTime()).toBe(T - 30 * DAY);
    expect((await db.sql(`select email from users where id = $1`, [owner.id])).rows).toEqual([{ email: owner.email }]);

    const statuses = Object.fromEntries(
      (await db.sql<{ id: string; status: string; failure_reason: string | null }>(`select id, status, failure_reason from payments where id = any($1)`, [[stale, fresh, failed]])).rows.map((r) => [r.id, r]),
    );
    expect(statuses[stale]!.status).toBe('CANCELLED');
    expect(statuses[stale]!.failure_reason).toBeTruthy();
    expect(statuses[fresh]!.status).toBe('PENDING');
    expect(statuses[failed]!.status).toBe('FAILED');

    // ── second run at the same time: nothing left to do, nothing changes
    const snapshot = async () =>
      JSON.stringify(
        await Promise.all(
          ['organization_invites', 'team_invites', 'notifications', 'outbox', 'processed_events', 'webhook_deliveries', 'feedback', 'weekly_feedback_mailings', 'users', 'profiles', 'payments', 'support_tickets', 'activity_logs', 'handler_failures'].map(
            async (t) => (await db.sql(`select * from ${t} order by 1, 2`)).rows,
          ),
        ),
      );
    const before = await snapshot();
    const second = await runCron(DAILY, T);
    expect(second.status).toBe('succeeded');
    expect(Object.values(second.counts).every((n) => n === 0)).toBe(true);
    expect(await snapshot()).toBe(before);
    expect((await db.sql(`select count(*)::int as n from job_runs where job = 'daily-cleanup'`)).rows).toEqual([{ n: 2 }]);
  });
});

describe('activity-log retention', () => {
  it('follows ACTIVITY_LOG_RETENTION_DAYS', async () => {
    const T = Date.now();
    await db.sql(`delete from activity_logs where created_at < $1`, [at(T - 10 * DAY)]); // rows of other tests
    const user = await signUp(db);
    const row = async (daysAgo: number) =>
      (await db.sql<{ id: string }>(`insert into activity_logs (user_id, action, metadata, created_at) values ($1, 'x', '{"ip":"192.0.2.1"}', $2) returning id`, [user.id, at(T - daysAgo * DAY)])).rows[0]!.id;
    const [eleven, nine] = [await row(11), await row(9)];
    const run = await runCron(DAILY, T, { ...db.env, ACTIVITY_LOG_RETENTION_DAYS: '10' } as Env);
    expect(run.status).toBe('succeeded');
    expect(run.counts.activityLogs).toBe(1);
    expect(await ids(`select id from activity_logs where user_id = $1`, [user.id])).toEqual([nine]);
    expect(eleven).not.toBe(nine);
  });
});

describe('daily-cleanup: steps are independent', () => {
  it('a failing first step lets every later step run; the run is recorded as failed, naming the step, with the others\' counts', async () => {
    const T = Date.now();
    const user = await signUp(db);
    const oldRead = (
      await db.sql<{ id: string }>(`insert into notifications (user_id, type, title, message, read_at, created_at) values ($1, 'SYSTEM', 't', 'm', $2, $2) returning id`, [user.id, at(T - 100 * DAY)])
    ).rows[0]!.id;
    const stale = (
      await db.sql<{ id: string }>(
        `insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits, status, created_at) values ($1, $2, 'basic_plan', 'Basic Plan', 89900, 50, 'PENDING', $3) returning id`,
        [user.id, `order_${crypto.randomUUID().slice(0, 8)}`, at(T - 2 * DAY)],
      )
    ).rows[0]!.id;
    // The first step (invites) fails on every run while this trigger exists.
    await db.sql(`create function refuse_invite_cleanup() returns trigger language plpgsql as $$ begin raise exception 'invites unavailable'; end $$`);
    await db.sql(`create trigger refuse_invite_cleanup before delete on organization_invites for each statement execute function refuse_invite_cleanup()`);
    vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const ctx = createExecutionContext();
      await expect(worker.scheduled!(createScheduledController({ scheduledTime: T, cron: DAILY }), db.env, ctx)).rejects.toThrow(); // the platform sees a failed run
      await waitOnExecutionContext(ctx);
    } finally {
      await db.sql(`drop trigger refuse_invite_cleanup on organization_invites`);
      await db.sql(`drop function refuse_invite_cleanup()`);
    }
    const run = (
      await db.sql<{ status: string; counts: Record<string, number>; error: string; finished_at: Date | null }>(
        `select status, counts, error, finished_at from job_runs where job = 'daily-cleanup' order by started_at desc limit 1`,
      )
    ).rows[0]!;
    expect(run.status).toBe('failed');
    expect(run.finished_at).not.toBeNull();
    expect(run.error).toMatch(/^Steps failed: invites \(DatabaseError: invites unavailable\)$/);
    expect(run.counts).not.toHaveProperty('invites');
    expect(run.counts).toMatchObject({ notifications: 1, cancelledPayments: 1 });
    expect((await db.sql(`select 1 from notifications where id = $1`, [oldRead])).rows).toHaveLength(0);
    expect((await db.sql(`select status from payments where id = $1`, [stale])).rows).toEqual([{ status: 'CANCELLED' }]);

    // The next run, with the step healthy again, succeeds; the failed run had counts for every other step.
    const next = await runCron(DAILY, T);
    expect(next.status).toBe('succeeded');
    expect(Object.keys(run.counts).sort()).toEqual(Object.keys(next.counts).filter((k) => k !== 'invites').sort());
  });
});

describe('weekly-feedback (cron 0 10 * * 0)', () => {
  const SUNDAY = Date.parse('2030-06-02T10:00:00Z');

  it('weekOf is the Monday of the ISO week (UTC)', () => {
    expect(weekOf(new Date(SUNDAY))).toBe('2030-05-27');
    expect(weekOf(new Date('2030-05-27T00:00:00Z'))).toBe('2030-05-27');
    expect(weekOf(new Date('2030-05-26T23:59:59Z'))).toBe('2030-05-20');
  });

  async function population() {
    const users = { defaults: await signUp(db, { firstName: 'Dee' }), optedIn: await signUp(db) } as Record<
      'defaults' | 'optedIn' | 'junkSetting' | 'noSettingsRow' | 'optedOut' | 'deleted' | 'anonymised' | 'placeholder',
      TestUser
    >;
    await db.sql(`update settings set settings = '{"email":{"weeklyFeedback":true}}' where user_id = $1`, [users.optedIn.id]);
    users.junkSetting = await signUp(db);
    await db.sql(`update settings set settings = '{"email":{"weeklyFeedback":"yes"}}' where user_id = $1`, [users.junkSetting.id]);
    users.noSettingsRow = await signUp(db);
    await db.sql(`delete from settings where user_id = $1`, [users.noSettingsRow.id]);
    users.optedOut = await signUp(db);
    await db.sql(`update settings set settings = '{"email":{"weeklyFeedback":false}}' where user_id = $1`, [users.optedOut.id]);
    users.deleted = await signUp(db);
    await db.sql(`update users set deleted_at = now() where id = $1`, [users.deleted.id]);
    users.anonymised = await signUp(db);
    await db.sql(`update users set deleted_at = now() - interval '40 days', anonymized_at = now(), email = 'deleted+x1@anonymized.invalid' where id = $1`, [users.anonymised.id]);
    users.placeholder = await signUp(db, { email: `user_ph${crypto.randomUUID().slice(0, 6)}@users.invalid` });
    return users;
  }

  const weeklyEvents = async (week: string) =>
    (await db.sql<{ user_id: string }>(`select payload->>'userId' as user_id from outbox where event_name = 'feedback.weekly_requested' and payload->>'weekOf' = $1`, [week])).rows.map((r) => r.user_id);

  it('emits one event per active opted-in user, mails each a fresh single-use code; a second run that week is a no-op', async () => {
    const u = await population();
    const eligible = [u.defaults, u.optedIn, u.junkSetting, u.noSettingsRow].map((x) => x.id);
    const excluded = [u.optedOut, u.deleted, u.anonymised, u.placeholder].map((x) => x.id);
    const week = weekOf(new Date(SUNDAY));
    const everyone = (await db.sql<{ n: number }>(`select count(*)::int as n from users where deleted_at is null and email !~* '\\.invalid$'`)).rows[0]!.n;

    const first = await runCron(WEEKLY, SUNDAY);
    expect(first.status).toBe('succeeded');
    const emittedFor = await weeklyEvents(week);
    expect(emittedFor).toEqual(expect.arrayContaining(eligible));
    expect(emittedFor.filter((id) => excluded.includes(id))).toEqual([]);
    expect(new Set(emittedFor).size).toBe(emittedFor.length);
    expect(first.counts).toEqual({ eligible: everyone - 1, emitted: everyone - 1 }); // everyone but the opted-out user
    expect(db.events.names().filter((n) => n === 'feedback.weekly_requested').length).toBe(emittedFor.length); // relayed by the job

    // The user who opts out after the job ran but before delivery gets nothing.
    await db.sql(`update settings set settings = '{"email":{"weeklyFeedback":false}}' where user_id = $1`, [u.optedIn.id]);
    await db.events.drain();
    const mail = (await db.sql<{ subject: string; text: string; html: string }>(`select subject, text, html from dev_emails where "to" = $1`, [u.defaults.email])).rows;
    expect(mail).toHaveLength(1);
    expect(mail[0]!.subject).toBe("We'd love your feedback");
    expect(mail[0]!.text).toContain('Unsubscribe: http://localhost:5173/dashboard/settings');
    const code = /\/feedback\/([A-Za-z0-9_-]+)/.exec(mail[0]!.text)![1]!;
    expect(code.length).toBeGreaterThanOrEqual(22); // ≥ 128 bits
    expect((await db.sql(`select kind, user_id, used_at from feedback where code = $1`, [code])).rows).toEqual([{ kind: 'weekly', user_id: null, used_at: null }]);
    expect((await call(db.env, `/api/v1/feedback/${code}`)).body.data.used).toBe(false);
    expect((await call(db.env, `/api/v1/feedback/${code}`, { method: 'POST', json: { rating: 5 } })).status).toBe(200);
    expect((await db.sql(`select 1 from dev_emails where "to" = $1`, [u.optedIn.email])).rows).toHaveLength(0);
    for (const id of excluded) expect((await db.sql(`select 1 from dev_emails d join users x on x.email = d."to" where x.id = $1`, [id])).rows).toHaveLength(0);
    const codesBefore = (await db.sql(`select 1 from feedback where kind = 'weekly'`)).rows.length;

    // Second run in the same week (later that day): nothing new recorded, emitted or mailed.
    const second = await runCron(WEEKLY, SUNDAY + 3 * 3_600_000);
    expect(second.counts).toEqual({ eligible: everyone - 2, emitted: 0 }); // optedIn has opted out since
    expect((await weeklyEvents(week)).length).toBe(emittedFor.length);
    await db.events.drain();
    expect((await db.sql(`select 1 from feedback where kind = 'weekly'`)).rows.length).toBe(codesBefore);
    expect((await db.sql(`select 1 from dev_emails where "to" = $1`, [u.defaults.email])).rows).toHaveLength(1);

    // Next week: a fresh code again.
    const next = await runCron(WEEKLY, SUNDAY + 7 * DAY);
    expect(next.counts.emitted).toBeGreaterThan(0);
    expect(await weeklyEvents(weekOf(new Date(SUNDAY + 7 * DAY)))).toEqual(expect.arrayContaining([u.defaults.id]));
  });

  it('one bad address never stops the rest: each user is its own queue message', async () => {
    await signUp(db);
    const bad = await signUp(db, { email: `bounce.${crypto.randomUUID().slice(0, 6)}@example.test` });
    const week = weekOf(new Date(SUNDAY + 14 * DAY));
    const before = db.events.messages.length;
    await runCron(WEEKLY, SUNDAY + 14 * DAY);
    const messages = db.events.messages.slice(before).filter((m) => m.name === 'feedback.weekly_requested' && (m.payload as { weekOf: string }).weekOf === week);
    expect(messages.length).toBeGreaterThan(1);

    const resend = fakeFetch({
      'POST https://api.resend.com/emails': async (req) => {
        const body = (await req.json()) as { to: string | string[] };
        const to = Array.isArray(body.to) ? body.to[0] : body.to;
        if (to === bad.email) return Response.json({ statusCode: 422, name: 'validation_error', message: 'Invalid `to` field.' }, { status: 422 });
        return Response.json({ id: crypto.randomUUID() });
      },
    });
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env = { ...db.env, RESEND_API_KEY: 're_test_123' } as Env;
    const weeklyCodes = async () => (await db.sql<{ n: number }>(`select count(*)::int as n from feedback where kind = 'weekly'`)).rows[0]!.n;
    const codesBefore = await weeklyCodes();
    const batch = createMessageBatch('fairarena-events', messages.map((body, i) => ({ id: `w${i}`, timestamp: new Date(), attempts: 1, body })));
    const ctx = createExecutionContext();
    await worker.queue!(batch as never, env, ctx);
    const result = await getQueueResult(batch, ctx);
    const badIndex = messages.findIndex((m) => (m.payload as { userId: string }).userId === bad.id);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toEqual([`w${badIndex}`]);
    expect(result.explicitAcks).toHaveLength(messages.length - 1);
    expect(resend.calls).toHaveLength(messages.length);
    const sent = await resend.calls[0]!.clone().json() as { headers?: Record<string, string> };
    expect(sent.headers?.['List-Unsubscribe']).toBe('<http://localhost:5173/dashboard/settings>');
    // one code per delivered mail; the failed user's code was rolled back with the failed send
    expect(await weeklyCodes()).toBe(codesBefore + messages.length - 1);
  });

  it('a delivery that failed after its mail may have gone out mails the new code under a new key, never a dead link', async () => {
    const user = await signUp(db);
    const week = weekOf(new Date(SUNDAY + 28 * DAY));
    const before = db.events.messages.length;
    await runCron(WEEKLY, SUNDAY + 28 * DAY);
    const event = db.events.messages
      .slice(before)
      .find((m) => m.name === 'feedback.weekly_requested' && (m.payload as { userId: string; weekOf: string }).userId === user.id && (m.payload as { weekOf: string }).weekOf === week)!;
    // The provider fails the first call (it may still have sent it), then accepts.
    let calls = 0;
    const resend = fakeFetch({
      'POST https://api.resend.com/emails': () => (++calls === 1 ? new Response('upstream timeout', { status: 504 }) : Response.json({ id: crypto.randomUUID() })),
    });
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env = { ...db.env, RESEND_API_KEY: 're_test_123' } as Env;
    expect((await db.events.deliver([event], env)).retried).toHaveLength(1);
    expect((await db.events.deliver([event], env)).acked).toBe(1);
    expect(resend.calls).toHaveLength(2);
    const keys = resend.calls.map((r) => r.headers.get('Idempotency-Key'));
    // A provider that took the first call would answer a repeated key with that mail, whose code was rolled back.
    expect(keys[0]).not.toBe(keys[1]);
    const mailed = ((await resend.calls[1]!.clone().json()) as { text: string }).text;
    const code = /\/feedback\/([A-Za-z0-9_-]+)/.exec(mailed)![1]!;
    expect((await call(db.env, `/api/v1/feedback/${code}`)).status).toBe(200);
  });

  it('a database failure while relaying one page neither stops the run nor loses that page: the sweeper sends it', async () => {
    // Enough users for several pages (100 per page); no settings row = opted in.
    await db.sql(`insert into users (id, email) select 'wkfault_' || lpad(i::text, 3, '0'), 'wkfault' || i || '@example.test' from generate_series(1, 250) i`);
    const week = weekOf(new Date(SUNDAY + 21 * DAY));
    // The first relay's UPDATE of the outbox fails as a dropped connection would; later ones succeed
    // (a sequence, unlike a flag row, is not rolled back with the failed transaction).
    await db.sql(`create sequence weekly_relay_fault`);
    await db.sql(`create function weekly_relay_fault() returns trigger language plpgsql as $$
      begin
        if nextval('weekly_relay_fault') = 1 then raise exception 'connection lost' using errcode = '08006'; end if;
        return null;
      end $$`);
    await db.sql(`create trigger weekly_relay_fault before update on outbox for each statement execute function weekly_relay_fault()`);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const before = db.events.messages.length;
    const relayedNow = () =>
      db.events.messages.slice(before).filter((m) => m.name === 'feedback.weekly_requested' && (m.payload as { weekOf: string }).weekOf === week);
    const run = await runCron(WEEKLY, SUNDAY + 21 * DAY).finally(async () => {
      await db.sql(`drop trigger weekly_relay_fault on outbox`);
      await db.sql(`drop function weekly_relay_fault()`);
      await db.sql(`drop sequence weekly_relay_fault`);
    });

    expect(run.status).toBe('succeeded');
    const { emitted, eligible } = run.counts as { emitted: number; eligible: number };
    expect(emitted).toBeGreaterThan(200);
    expect(emitted).toBe(eligible);
    const written = await weeklyEvents(week);
    expect(written).toHaveLength(emitted);
    for (let i = 1; i <= 250; i++) expect(written).toContain(`wkfault_${String(i).padStart(3, '0')}`);
    // The failed page is still in the outbox, unrelayed; every later page was relayed by the run.
    const unrelayed = async () =>
      (await db.sql<{ id: string }>(`select id from outbox where event_name = 'feedback.weekly_requested' and payload->>'weekOf' = $1 and relayed_at is null`, [week])).rows.map((r) => r.id);
    const left = await unrelayed();
    expect(left).toHaveLength(100);
    expect(new Set(relayedNow().map((m) => m.id)).size).toBeGreaterThanOrEqual(emitted - 100);

    // The sweeper relays what was left behind once it is old enough.
    await db.sql(`update outbox set created_at = now() - interval '5 minutes' where id = any($1)`, [left]);
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), db.env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await unrelayed()).toEqual([]);
    expect(new Set(relayedNow().map((m) => m.id)).size).toBe(emitted);
  });
});
