import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { OTP_PLACEHOLDER, userState } from '../src/durable/user-state';
import { signStepUpToken } from '../src/services/stepup/token';
import { dropConnectionWaitingOn, useTestDatabase, withDatabaseHanging } from './helpers/db';
import { fakeFetch, hang, type FakeFetch } from './helpers/fake-fetch';
import { call, type CallResult } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

// Mail goes through (faked) Resend in this file, so export attachments can be read.
const db = useTestDatabase({ RESEND_API_KEY: 're_test_key' });
const SECRET = 'test-step-up-token-secret-0123456789abcdef0123'; // STEPUP_TOKEN_SECRET in vitest.config.ts
const UA = 'Mozilla/5.0 (X11; Linux x86_64) FairArenaTest/1.0';
const MIN = 60_000;

interface SentMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  attachments?: { filename: string; content: string; contentType?: string; content_type?: string }[];
}
let resend: FakeFetch;
let mails: SentMail[];
const responses: string[] = [];
const codes = new Set<string>();

beforeEach(() => {
  mails = [];
  resend = fakeFetch({
    'POST https://api.resend.com/emails': async (req) => {
      const mail = (await req.json()) as SentMail;
      mails.push(mail);
      const code = /verification code for account settings is: ([A-Z0-9]{8})/.exec(mail.text)?.[1];
      if (code) codes.add(code);
      return Response.json({ id: crypto.randomUUID() });
    },
  });
});
afterEach(() => {
  resend.restore();
  vi.restoreAllMocks();
});

interface Client {
  ip?: string;
  ua?: string;
  stepUp?: string;
  cookie?: string;
  env?: Env;
}
async function api(u: TestUser | null, method: string, path: string, client: Client = {}, json?: unknown): Promise<CallResult> {
  const headers: Record<string, string> = { 'User-Agent': client.ua ?? UA };
  if (client.stepUp) headers['X-Step-Up-Token'] = client.stepUp;
  if (client.cookie) headers.Cookie = client.cookie;
  const r = await call(client.env ?? db.env, `/api/v1/account-settings${path}`, { method, token: u?.token, json, headers, ip: client.ip ?? '203.0.113.7' });
  responses.push(JSON.stringify({ status: r.status, body: r.body, headers: [...r.headers] }));
  return r;
}
const sendCode = (u: TestUser, client: Client = {}) => api(u, 'POST', '/send-otp', client);
const verifyCode = (u: TestUser, otp: string, client: Client = {}) => api(u, 'POST', '/verify-otp', client, { otp });
const lastCode = () => /is: ([A-Z0-9]{8})/.exec(mails.filter((m) => m.subject.includes('verification code')).at(-1)!.text)![1]!;

/** A user who passed step-up from the default client: their token. */
async function steppedUp(u: TestUser, client: Client = {}): Promise<string> {
  expect((await sendCode(u, client)).status).toBe(200);
  const r = await verifyCode(u, lastCode(), client);
  expect(r.status).toBe(200);
  return r.body.data.token as string;
}

describe('POST /account-settings/send-otp', () => {
  it('emails an 8-character code (never in the response); 60 s cooldown → 429 with Retry-After', async () => {
    const u = await signUp(db, { firstName: 'Ada' });
    const r = await sendCode(u);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ sent: true, expiresIn: 600, resendAfter: 60, sendsRemaining: 4 });
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toBe(u.email);
    const code = lastCode();
    expect(code).toMatch(/^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/);
    expect(mails[0]!.subject).toBe(`${code} is your FairArena verification code`);
    expect(mails[0]!.text).toContain('It expires in 10 minutes. It was requested from IP address 203.0.113.7.');
    expect(mails[0]!.html).toContain(code);
    expect(mails[0]!.html).not.toContain(OTP_PLACEHOLDER);
    expect(JSON.stringify(r.body)).not.toContain(code);

    const again = await sendCode(u);
    expect(again.status).toBe(429);
    expect(again.body.error.details.reason).toBe('COOLDOWN');
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(50);
    expect(again.body.error.details.retryAfter).toBe(Number(again.headers.get('Retry-After')));
    expect(mails).toHaveLength(1);
    const log = (await db.sql<{ action: string; level: string }>(`select action, level from activity_logs where user_id = $1`, [u.id])).rows;
    expect(log).toEqual([{ action: 'otp.sent', level: 'WARN' }]);
  });

  it('5 sends per 30 minutes (earlier sends made at an earlier clock)', async () => {
    const u = await signUp(db);
    const state = userState(db.env, u.id);
    const start = Date.now() - 10 * MIN;
    const email = { to: u.email, subject: `${OTP_PLACEHOLDER}`, html: OTP_PLACEHOLDER, text: OTP_PLACEHOLDER, template: 'step-up-code' };
    const delivery = { kind: 'resend' as const, apiKey: 're_test_key', baseUrl: 'https://api.resend.com', from: 'x@fairarena.test' };
    for (let i = 0; i < 5; i++) expect((await state.sendStepUpOtp({ userId: u.id, email, delivery }, start + i * MIN)).ok).toBe(true);
    const r = await sendCode(u);
    expect(r.status).toBe(429);
    expect(r.body.error.details.reason).toBe('SEND_LIMIT');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(19 * 60);
    expect(Number(r.headers.get('Retry-After'))).toBeLessThanOrEqual(20 * 60);
  });

  it('development: without RESEND_API_KEY the code lands in the dev mailbox', async () => {
    const env = { ...db.env, RESEND_API_KEY: '' } as Env;
    const u = await signUp(db);
    expect((await sendCode(u, { env })).status).toBe(200);
    expect(mails).toHaveLength(0);
    const [row] = (await db.sql<{ text: string; tags: { template: string } }>(`select text, tags from dev_emails where "to" = $1`, [u.email])).rows;
    expect(row!.tags.template).toBe('step-up-code');
    const code = /is: ([A-Z0-9]{8})/.exec(row!.text)![1]!;
    codes.add(code);
    expect((await verifyCode(u, code, { env })).status).toBe(200);
  });
});

describe('POST /account-settings/send-otp: the mail provider fails', () => {
  it('Resend hangs past its timeout: 503 DELIVERY_UNCONFIRMED with Retry-After; the send stays counted and the mailed code still verifies', { timeout: 60_000 }, async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    resend.on('POST https://api.resend.com/emails', async (req) => {
      mails.push((await req.json()) as SentMail); // the mail went out; the answer never comes
      return hang(req);
    });
    const u = await signUp(db);
    const r = await sendCode(u);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.body.error.details.reason).toBe('DELIVERY_UNCONFIRMED');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(40);
    const code = lastCode();
    codes.add(code);
    resend.on('POST https://api.resend.com/emails', () => Response.json({ id: crypto.randomUUID() }));
    const again = await sendCode(u);
    expect([again.status, again.body.error.details.reason]).toEqual([429, 'COOLDOWN']);
    expect((await verifyCode(u, code)).status).toBe(200);
  });

  it('Resend refuses (4xx): 503 DELIVERY_FAILED, the send is given back', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    resend.on('POST https://api.resend.com/emails', () => Response.json({ statusCode: 422, name: 'validation_error', message: 'Invalid `to` field' }, { status: 422 }));
    const u = await signUp(db);
    const r = await sendCode(u);
    expect([r.status, r.body.error.details.reason]).toEqual([503, 'DELIVERY_FAILED']);
    resend.on('POST https://api.resend.com/emails', () => Response.json({ id: crypto.randomUUID() }));
    const retry = await sendCode(u);
    expect(retry.status).toBe(200);
    expect(retry.body.data.sendsRemaining).toBe(4);
  });
});

describe('POST /account-settings/verify-otp', () => {
  it('case-insensitive; returns a step-up token and sets the fa_stepup cookie; logs stepup.granted', async () => {
    const u = await signUp(db);
    await sendCode(u);
    const r = await verifyCode(u, lastCode().toLowerCase());
    expect(r.status).toBe(200);
    expect(r.body.data.verified).toBe(true);
    expect(r.body.data.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const expiresIn = Date.parse(r.body.data.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(590_000);
    expect(expiresIn).toBeLessThanOrEqual(600_000);
    const cookie = r.headers.get('Set-Cookie')!;
    expect(cookie).toContain(`fa_stepup=${r.body.data.token}`);
    for (const attr of ['Max-Age=600', 'Path=/api/v1', 'HttpOnly', 'Secure', 'SameSite=Strict']) expect(cookie).toContain(attr);
    const log = (await db.sql<{ action: string; level: string }>(`select action, level from activity_logs where user_id = $1 order by action`, [u.id])).rows;
    expect(log).toEqual([
      { action: 'otp.sent', level: 'WARN' },
      { action: 'otp.verified', level: 'INFO' },
      { action: 'stepup.granted', level: 'CRITICAL' },
    ]);
    // the code is consumed
    expect((await verifyCode(u, lastCode())).body.error.details.reason).toBe('OTP_EXPIRED');
  });

  it('400 for malformed input, wrong codes count down; the 5th locks for 30 minutes (429), logged as otp.locked', async () => {
    const u = await signUp(db);
    for (const otp of ['SHORT', 'TOOLONGCODE1', 'abc-defg', '']) expect((await verifyCode(u, otp)).status).toBe(400);
    expect((await api(u, 'POST', '/verify-otp', {}, { otp: 'ABCDEFGH', extra: true })).status).toBe(400);
    expect((await verifyCode(u, 'ABCDEFGH')).body.error.details.reason).toBe('OTP_EXPIRED'); // none issued yet

    await sendCode(u);
    const code = lastCode();
    const bad = code.startsWith('A') ? 'BBBBBBBB' : 'AAAAAAAA';
    for (let i = 1; i <= 4; i++) {
      const r = await verifyCode(u, bad);
      expect(r.status).toBe(400);
      expect(r.body.error.details).toEqual({ reason: 'OTP_INVALID', remainingAttempts: 5 - i });
    }
    const locked = await verifyCode(u, bad);
    expect(locked.status).toBe(429);
    expect(locked.body.error.details).toEqual({ reason: 'LOCKED', retryAfter: 1800 });
    expect(locked.headers.get('Retry-After')).toBe('1800');
    expect((await verifyCode(u, code)).status).toBe(429); // even the right code, while locked
    expect((await sendCode(u)).body.error.details.reason).toBe('LOCKED');
    const log = (await db.sql<{ action: string; level: string }>(`select action, level from activity_logs where user_id = $1 and action = 'otp.locked'`, [u.id])).rows;
    expect(log).toEqual([{ action: 'otp.locked', level: 'CRITICAL' }]);
  });

  it('the database hanging when the step-up is recorded: 503 and no token; the same code works once it is back', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    expect((await sendCode(u)).status).toBe(200);
    const code = lastCode();
    const down = await verifyCode(u, code, { env: withDatabaseHanging(db) });
    expect([down.status, down.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    expect(down.headers.get('Set-Cookie')).toBeNull();
    const ok = await verifyCode(u, code);
    expect(ok.status).toBe(200);
    expect(ok.body.data.token).toEqual(expect.any(String));
    expect((await verifyCode(u, code)).body.error.details.reason).toBe('OTP_EXPIRED');
  });

  it("401 without a session on every route; one user's code does not verify another user", async () => {
    for (const [method, path] of [['POST', '/send-otp'], ['POST', '/verify-otp'], ['GET', '/status'], ['GET', '/logs'], ['POST', '/export-data']] as const) {
      const r = await api(null, method, path, {}, path === '/verify-otp' ? { otp: 'ABCDEFGH' } : undefined);
      expect(r.status, path).toBe(401);
    }
    const a = await signUp(db);
    const b = await signUp(db);
    await sendCode(a);
    expect((await verifyCode(b, lastCode())).body.error.details.reason).toBe('OTP_EXPIRED');
  });
});

describe('step-up token', () => {
  it('GET /status reports whether this client holds a valid token', async () => {
    const u = await signUp(db);
    expect((await api(u, 'GET', '/status')).body.data).toEqual({ verified: false, expiresAt: null });
    const token = await steppedUp(u);
    const ok = await api(u, 'GET', '/status', { stepUp: token });
    expect(ok.body.data.verified).toBe(true);
    expect((await api(u, 'GET', '/status', { cookie: `fa_stepup=${token}` })).body.data.verified).toBe(true);
    expect((await api(u, 'GET', '/status', { stepUp: token, ua: 'curl/8.0' })).body.data.verified).toBe(false);
  });

  it('is refused with 403 STEP_UP_REQUIRED (never 500) when missing, replayed elsewhere, expired or forged', async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    const token = await steppedUp(u);
    expect((await api(u, 'GET', '/logs', { stepUp: token })).status).toBe(200);
    expect((await api(u, 'GET', '/logs', { cookie: `fa_stepup=${token}` })).status).toBe(200);

    const client = { userId: u.id, userAgent: UA, ip: '203.0.113.7' };
    const expired = (await signStepUpToken({ secret: SECRET, client, nowMs: Date.now() - 11 * MIN })).token;
    const forged = (await signStepUpToken({ secret: 'another-secret-another-secret-another-secret', client })).token;
    const cases: [string, Client, string][] = [
      ['missing', {}, 'missing'],
      ['other User-Agent', { stepUp: token, ua: 'curl/8.0' }, 'other_device'],
      ['other IP', { stepUp: token, ip: '198.51.100.99' }, 'other_device'],
      ['expired', { stepUp: expired }, 'expired'],
      ['forged', { stepUp: forged }, 'invalid'],
      ['garbage', { stepUp: 'not-a-token' }, 'invalid'],
      ['garbage cookie', { cookie: 'fa_stepup=x.y.z' }, 'invalid'],
    ];
    for (const [label, c, cause] of cases) {
      for (const [method, path] of [['GET', '/logs'], ['POST', '/export-data']] as const) {
        const r = await api(u, method, path, c);
        expect(r.status, `${label} ${path}`).toBe(403);
        expect(r.body.error).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'STEP_UP_REQUIRED', cause } });
      }
    }
    const stolen = await api(other, 'GET', '/logs', { stepUp: token });
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.details).toEqual({ reason: 'STEP_UP_REQUIRED', cause: 'other_user' });
  });
});

describe('GET /account-settings/logs', () => {
  it("paginates the caller's own activity log, newest first", async () => {
    const u = await signUp(db);
    const other = await signUp(db);
    await db.sql(`insert into activity_logs (user_id, action, level, created_at) values ($1, 'foreign.action', 'INFO', now())`, [other.id]);
    for (let i = 0; i < 5; i++) {
      await db.sql(`insert into activity_logs (user_id, action, level, metadata, created_at) values ($1, $2, 'INFO', $3, now() - make_interval(days => $4))`, [u.id, `old.${i}`, { i }, 10 - i]);
    }
    const token = await steppedUp(u);
    const first = await api(u, 'GET', '/logs?limit=3', { stepUp: token });
    expect(first.status).toBe(200);
    expect(first.headers.get('Cache-Control')).toBe('private, no-store');
    expect(first.body.meta).toEqual({ total: 8, limit: 3, offset: 0 });
    expect(first.body.data.map((r: { action: string }) => r.action).sort()).toEqual(['otp.sent', 'otp.verified', 'stepup.granted']);
    const second = await api(u, 'GET', '/logs?limit=3&offset=3', { stepUp: token });
    expect(second.body.data.map((r: { action: string }) => r.action)).toEqual(['old.4', 'old.3', 'old.2']);
    expect(second.body.data[0]).toMatchObject({ level: 'INFO', metadata: { i: 4 } });
    const all = await api(u, 'GET', '/logs?limit=100', { stepUp: token });
    const times = all.body.data.map((r: { createdAt: string }) => Date.parse(r.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all.body.data.map((r: { action: string }) => r.action)).not.toContain('foreign.action');
    expect((await api(u, 'GET', '/logs?limit=0', { stepUp: token })).status).toBe(400);
    expect((await api(u, 'GET', '/logs?limit=101', { stepUp: token })).status).toBe(400);
  });
});

describe('POST /account-settings/export-data', () => {
  async function seedWorld() {
    const u = await signUp(db, { firstName: 'Ada', lastName: 'Lovelace', profile: { is_public: true } });
    const mallory = await signUp(db, { firstName: 'Mallory', lastName: 'Intruder', email: `mallory.${Date.now()}@evil.test` });
    const slug = `org-${Date.now().toString(36)}`;
    const [org] = (await db.sql<{ id: string }>(`insert into organizations (name, slug) values ($1, $2) returning id`, [`Acme ${slug}`, slug])).rows;
    const [owner] = (await db.sql<{ id: string }>(`insert into organization_roles (org_id, name) values ($1, 'Owner') returning id`, [org!.id])).rows;
    const [member] = (await db.sql<{ id: string }>(`insert into organization_roles (org_id, name) values ($1, 'Member') returning id`, [org!.id])).rows;
    await db.sql(`insert into organization_members (org_id, user_id, role_id) values ($1, $2, $3), ($1, $4, $5)`, [org!.id, mallory.id, owner!.id, u.id, member!.id]);
    const [team] = (await db.sql<{ id: string }>(`insert into teams (org_id, name, slug) values ($1, 'Core team', $2) returning id`, [org!.id, `team-${slug}`])).rows;
    const [teamRole] = (await db.sql<{ id: string }>(`insert into team_roles (team_id, name) values ($1, 'Admin') returning id`, [team!.id])).rows;
    await db.sql(`insert into team_members (team_id, user_id, role_id) values ($1, $2, $3)`, [team!.id, u.id, teamRole!.id]);
    const [project] = (await db.sql<{ id: string }>(`insert into projects (team_id, name, slug, created_by) values ($1, 'Engine', $2, $3) returning id`, [team!.id, `p-${slug}`, mallory.id])).rows;
    const [projectRole] = (await db.sql<{ id: string }>(`insert into project_roles (project_id, name) values ($1, 'Contributor') returning id`, [project!.id])).rows;
    await db.sql(`insert into project_members (project_id, user_id, role_id) values ($1, $2, $3)`, [project!.id, u.id, projectRole!.id]);
    // Mallory stars Ada's profile through the real flow, so Ada holds the real STAR notification
    // ("Mallory Intruder starred your profile."); Ada also has a payment, credits, a ticket, a notification
    const [profile] = (await db.sql<{ id: string }>(`select id from profiles where user_id = $1`, [u.id])).rows;
    expect((await call(db.env, `/api/v1/stars/${profile!.id}`, { method: 'POST', token: mallory.token })).status).toBe(200);
    await db.events.drain();
    const starNote = (await db.sql<{ message: string }>(`select message from notifications where user_id = $1 and type = 'STAR'`, [u.id])).rows;
    expect(starNote).toEqual([{ message: 'Mallory Intruder starred your profile.' }]); // the seed really names her
    await db.sql(
      `insert into payments (user_id, razorpay_order_id, plan_id, plan_name, amount, credits) values ($1, $2, 'basic_plan', 'Basic', 89900, 50)`,
      [u.id, `order_${slug}`],
    );
    await db.sql(`insert into credit_balances (user_id, balance) values ($1, 200)`, [u.id]);
    await db.sql(`insert into credit_transactions (user_id, amount, balance_after, type, description) values ($1, 200, 200, 'INITIAL_ALLOCATION', 'Welcome bonus')`, [u.id]);
    await db.sql(`insert into support_tickets (user_id, subject, message) values ($1, 'Help', 'It broke')`, [u.id]);
    await db.sql(`insert into support_tickets (user_id, subject, message) values ($1, 'Mallory ticket', 'secret')`, [mallory.id]);
    await db.sql(`insert into notifications (user_id, type, title, message) values ($1, 'SYSTEM', 'Hello Ada', 'Welcome')`, [u.id]);
    await db.sql(`update users set phone_number = '+919812345678', phone_verified_at = now() where id = $1`, [u.id]);
    return { u, mallory };
  }

  it('202 then 429 within 24 h; the queue emails the user a JSON export of their own data only', async () => {
    const { u, mallory } = await seedWorld();
    const token = await steppedUp(u);
    const r = await api(u, 'POST', '/export-data', { stepUp: token });
    expect(r.status).toBe(202);
    expect(r.body.data).toEqual({ status: 'queued' });
    expect(db.events.names()).toContain('account.export_requested');
    const again = await api(u, 'POST', '/export-data', { stepUp: token });
    expect(again.status).toBe(429);
    expect(again.body.error.details.reason).toBe('EXPORT_LIMIT');
    expect(Number(again.headers.get('Retry-After'))).toBeGreaterThan(86_000);

    await db.events.drain();
    const mail = mails.find((m) => m.subject === 'Your FairArena data export')!;
    expect(mail.to).toBe(u.email);
    expect(mail.attachments).toHaveLength(1);
    const attachment = mail.attachments![0]!;
    expect(attachment.filename).toMatch(/^fairarena-data-export-\d{4}-\d{2}-\d{2}\.json$/);
    const text = new TextDecoder().decode(Uint8Array.from(atob(attachment.content), (ch) => ch.charCodeAt(0)));
    const data = JSON.parse(text);
    expect(data.account).toMatchObject({ id: u.id, email: u.email, firstName: 'Ada', phoneNumber: '+919812345678' });
    expect(data.profile).toMatchObject({ bio: '' });
    expect(data.settings).toBeTypeOf('object');
    expect(data.memberships.organizations).toEqual([expect.objectContaining({ role: 'Member' })]);
    expect(data.memberships.teams).toEqual([expect.objectContaining({ name: 'Core team', role: 'Admin' })]);
    expect(data.memberships.projects).toEqual([expect.objectContaining({ name: 'Engine', team: 'Core team', role: 'Contributor' })]);
    expect(data.payments).toEqual([expect.objectContaining({ planId: 'basic_plan', amount: 89900, status: 'PENDING' })]);
    expect(data.credits.balance).toBe(200);
    expect(data.credits.transactions).toEqual([expect.objectContaining({ type: 'INITIAL_ALLOCATION', amount: 200 })]);
    expect(data.notifications.map((x: { title: string }) => x.title)).toEqual(expect.arrayContaining(['Hello Ada', 'New star on your profile']));
    for (const n of data.notifications) expect(Object.keys(n).sort()).toEqual(['createdAt', 'id', 'readAt', 'title', 'type']);
    expect(data.supportTickets.map((x: { subject: string }) => x.subject)).toEqual(['Help']);
    expect(data.activityLog.map((x: { action: string }) => x.action)).toEqual(expect.arrayContaining(['stepup.granted', 'export.requested']));
    // no other user's personal data
    expect(text).not.toContain(mallory.email);
    expect(text).not.toContain(mallory.email.split('@')[0]!);
    expect(text).not.toContain(mallory.id);
    expect(text).not.toContain('Mallory');
    expect(text).not.toContain('Intruder');
    expect(text).not.toContain('secret');

    const log = (await db.sql<{ action: string }>(`select action from activity_logs where user_id = $1`, [u.id])).rows.map((x) => x.action);
    expect(log).toEqual(expect.arrayContaining(['export.requested', 'export.completed']));
  });

  it('a failed export sends the failure email instead and logs export.failed', async () => {
    const u = await signUp(db);
    const token = await steppedUp(u);
    resend.on('POST https://api.resend.com/emails', async (req) => {
      const mail = (await req.json()) as SentMail;
      if (mail.attachments?.length) return Response.json({ statusCode: 422, name: 'validation_error', message: 'attachment too large' }, { status: 422 });
      mails.push(mail);
      return Response.json({ id: crypto.randomUUID() });
    });
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect((await api(u, 'POST', '/export-data', { stepUp: token })).status).toBe(202);
    const drained = await db.events.drain();
    expect(drained.retried).toEqual([]);
    expect(mails.map((m) => m.subject)).toContain('Your FairArena data export could not be created');
    const log = (await db.sql<{ action: string }>(`select action from activity_logs where user_id = $1`, [u.id])).rows.map((x) => x.action);
    expect(log).toContain('export.failed');
    expect(log).not.toContain('export.completed');
  });
});

describe('an export that fails for a passing reason is retried, not declared failed', () => {
  const READY = 'Your FairArena data export';
  const FAILED = 'Your FairArena data export could not be created';
  const subjects = () => mails.map((m) => m.subject);
  const actions = async (u: TestUser) => (await db.sql<{ action: string }>(`select action from activity_logs where user_id = $1`, [u.id])).rows.map((x) => x.action);

  /** A user whose export was requested (everything else already delivered): the export event. */
  async function requested() {
    const u = await signUp(db);
    const token = await steppedUp(u);
    await db.events.drain();
    expect((await api(u, 'POST', '/export-data', { stepUp: token })).status).toBe(202);
    const event = db.events.messages.find((m) => m.name === 'account.export_requested' && (m.payload as { userId: string }).userId === u.id)!;
    return { u, event };
  }

  it('Resend down (5xx) or timing out: no failure mail, the queue retries, and the retry sends the export', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const { u, event } = await requested();
    let answer: 'down' | 'hang' | 'up' = 'down';
    resend.on('POST https://api.resend.com/emails', async (req) => {
      const mail = (await req.json()) as SentMail;
      // a passing fault on the large request (the export): a small mail right after it may well get through
      if (mail.attachments?.length && answer === 'down') return Response.json({ statusCode: 503, name: 'application_error', message: 'service unavailable' }, { status: 503 });
      if (mail.attachments?.length && answer === 'hang') return new Promise<Response>(() => {});
      mails.push(mail);
      return Response.json({ id: crypto.randomUUID() });
    });
    expect((await db.events.drain()).retried).toHaveLength(1);
    answer = 'hang';
    expect((await db.events.deliver([event])).retried).toHaveLength(1);
    expect(subjects()).not.toContain(FAILED);
    expect(await actions(u)).not.toContain('export.failed');

    answer = 'up';
    expect(await db.events.deliver([event])).toEqual({ acked: 1, retried: [] });
    expect(subjects().filter((s) => s === READY)).toEqual([READY]);
    expect(subjects()).not.toContain(FAILED);
    expect(await actions(u)).toEqual(expect.arrayContaining(['export.completed']));
  }, 30_000);

  it('the database connection drops mid-export: no failure mail, the queue retries, and the retry sends the export', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const { u, event } = await requested();
    const first = await dropConnectionWaitingOn(db, 'ai_sessions', () => db.events.drain()); // a table the export reads
    expect(first.retried).toHaveLength(1);
    expect(subjects()).not.toContain(FAILED);
    expect(await actions(u)).not.toContain('export.failed');

    expect(await db.events.deliver([event])).toEqual({ acked: 1, retried: [] });
    expect(subjects().filter((s) => s === READY)).toEqual([READY]);
    expect(await actions(u)).toEqual(expect.arrayContaining(['export.completed']));
  }, 30_000);
});

describe('append-only tables hold no client IP or user agent', () => {
  it('the free-credits ledger row carries no IP or user agent (it can never be erased)', async () => {
    const u = await signUp(db);
    await db.sql(`update users set phone_number = '+919800011122', phone_verified_at = now() where id = $1`, [u.id]);
    const r = await call(db.env, '/api/v1/credits/claim', { method: 'POST', token: u.token, ip: '203.0.113.250', headers: { 'User-Agent': UA } });
    expect(r.status).toBe(200);
    const rows = (await db.sql<{ metadata: Record<string, unknown> | null }>(`select metadata from credit_transactions where user_id = $1`, [u.id])).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.metadata).toEqual({ type: 'free_credits_claim' });
    expect(JSON.stringify(rows)).not.toContain('203.0.113.250');
    expect(JSON.stringify(rows)).not.toContain('FairArenaTest');
  });
});

describe('the step-up code', () => {
  it('never appears in an event, activity row, log line or HTTP answer', async () => {
    const logged: string[] = [];
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    }
    const u = await signUp(db);
    await sendCode(u);
    await verifyCode(u, 'ZZZZZZZZ');
    await verifyCode(u, lastCode());
    resend.on('POST https://api.resend.com/emails', async (req) => {
      const mail = (await req.json()) as SentMail;
      codes.add(/is: ([A-Z0-9]{8})/.exec(mail.text)![1]!);
      return Response.json({ statusCode: 500, name: 'application_error', message: `could not deliver: ${mail.subject}` }, { status: 500 });
    });
    const failed = await sendCode(await signUp(db));
    expect(failed.status).toBe(503);
    await db.events.drain();

    expect(codes.size).toBeGreaterThan(5);
    const outbox = (await db.sql<{ t: string }>(`select payload::text || coalesce(last_error, '') as t from outbox`)).rows.map((r) => r.t).join('\n');
    const dead = (await db.sql<{ t: string }>(`select payload::text || error as t from dead_letters`)).rows.map((r) => r.t).join('\n');
    const activity = (await db.sql<{ t: string }>(`select action || coalesce(metadata::text, '') as t from activity_logs`)).rows.map((r) => r.t).join('\n');
    const everything = { outbox, dead, activity, logs: logged.join('\n'), responses: responses.join('\n') };
    for (const code of codes) {
      for (const [where, text] of Object.entries(everything)) expect(text.includes(code), `${code} found in ${where}`).toBe(false);
    }
    expect(logged.join('\n')).toContain('otp.delivery_failed');
  });
});
