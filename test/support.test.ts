import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { clientIpBucket, ipBucket } from '../src/lib/http';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();

let ipCounter = 0;
/** A fresh client IP per test, so the anonymous 1/h limit never couples tests. */
const freshIp = () => `203.0.113.${++ipCounter}`;
const uniqueEmail = (tag: string) => `${tag}.${crypto.randomUUID().slice(0, 8)}@example.test`;

const ticket = (over: Record<string, unknown> = {}) => ({ subject: 'Cannot join my team', message: 'The invite link says it has expired.', ...over });
const postSupport = (json: unknown, options: { token?: string; ip?: string; headers?: Record<string, string> } = {}) =>
  call(db.env, '/api/v1/support', { method: 'POST', json, token: options.token, ip: options.ip ?? freshIp(), headers: options.headers });

const mailsTo = async (to: string) =>
  (await db.sql<{ subject: string; html: string; text: string; tags: { template: string } }>(`select subject, html, text, tags from dev_emails where "to" = $1 order by created_at`, [to])).rows;

describe('POST /api/v1/support (signed in)', () => {
  it('stores the ticket synchronously, returns its real id (201) and confirms by email + notification', async () => {
    const user = await signUp(db, { firstName: 'Grace' });
    const r = await postSupport(ticket({ type: 'QUERY', severity: 'MEDIUM', email: 'ignored@example.test' }), { token: user.token });
    expect(r.status).toBe(201);
    expect(r.body.data).toMatchObject({ subject: 'Cannot join my team', type: 'QUERY', severity: 'MEDIUM', status: 'QUEUED' });
    const { rows } = await db.sql<{ id: string; user_id: string; email: string | null }>(`select id, user_id, email from support_tickets where id = $1`, [r.body.data.id]);
    expect(rows).toEqual([{ id: r.body.data.id, user_id: user.id, email: null }]);

    await db.events.drain();
    const mails = await mailsTo(user.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('We received your support request');
    expect(mails[0]!.tags.template).toBe('support-confirmation');
    expect(mails[0]!.text).toContain(r.body.data.id);
    expect(mails[0]!.text).toContain('Hi Grace');
    expect(mails[0]!.text).toContain('Cannot join my team'); // to the account's own address the subject may be repeated
    expect(await mailsTo('ignored@example.test')).toHaveLength(0); // a signed-in caller cannot redirect the mail
    const notes = await db.sql(`select 1 from notifications where user_id = $1 and title = 'Support request received'`, [user.id]);
    expect(notes.rows).toHaveLength(1);
  });

  it('GET lists only the caller’s tickets, newest first, with meta', async () => {
    const user = await signUp(db);
    const other = await signUp(db);
    const a = await postSupport(ticket({ subject: 'First ticket' }), { token: user.token });
    const b = await postSupport(ticket({ subject: 'Second ticket' }), { token: user.token });
    await postSupport(ticket({ subject: 'Not yours' }), { token: other.token });
    const r = await call(db.env, '/api/v1/support?limit=10', { token: user.token });
    expect(r.status).toBe(200);
    expect(r.body.data.map((t: { id: string }) => t.id)).toEqual([b.body.data.id, a.body.data.id]);
    expect(r.body.meta).toEqual({ total: 2, limit: 10, offset: 0 });
    expect((await call(db.env, '/api/v1/support?limit=0', { token: user.token })).status).toBe(400);
  });

  it('GET without a session → 401', async () => {
    const r = await call(db.env, '/api/v1/support');
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('AUTH_REQUIRED');
  });

  it('3 per hour per user, then 429 with Retry-After (a new IP does not help)', async () => {
    const user = await signUp(db);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postSupport(ticket({ subject: `Ticket number ${i}` }), { token: user.token })).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    const r = await postSupport(ticket(), { token: user.token });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('RATE_LIMITED');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await db.sql(`select 1 from support_tickets where user_id = $1`, [user.id])).rows).toHaveLength(3);
  });
});

describe('POST /api/v1/support (anonymous)', () => {
  it('needs an email; stores it lower-cased; the confirmation is fixed text + the reference: neither the subject nor the message', async () => {
    const email = uniqueEmail('Anon');
    const missing = await postSupport(ticket());
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('VALIDATION_ERROR');

    const subject = `<a href="https://evil.example">Click</a> ${'x'.repeat(150)}`;
    const r = await postSupport(ticket({ email: email.toUpperCase(), subject, message: 'Buy cheap pills at https://spam.example now!!' }));
    expect(r.status).toBe(201);
    const { rows } = await db.sql<{ user_id: string | null; email: string }>(`select user_id, email from support_tickets where id = $1`, [r.body.data.id]);
    expect(rows).toEqual([{ user_id: null, email: email.toLowerCase() }]);

    await db.events.drain();
    const mails = await mailsTo(email.toLowerCase());
    expect(mails).toHaveLength(1);
    const mail = mails[0]!;
    expect(mail.subject).toBe('We received your support request');
    expect(mail.text).toContain(r.body.data.id);
    for (const part of [mail.html, mail.text]) {
      expect(part).not.toContain('evil.example'); // the attacker-chosen subject, in any encoding
      expect(part).not.toContain('Click');
      expect(part).not.toContain('xxxxx');
    }
    expect(mail.html).not.toContain('spam.example');
    expect(mail.text).not.toContain('spam.example');
    expect(mail.text).not.toContain('Hi '.concat('Anon')); // no name for anonymous requesters
  });

  it('1 per hour per CF-Connecting-IP; X-Forwarded-For is ignored', async () => {
    const ip = freshIp();
    expect((await postSupport(ticket({ email: uniqueEmail('a') }), { ip })).status).toBe(201);
    const second = await postSupport(ticket({ email: uniqueEmail('b') }), { ip, headers: { 'X-Forwarded-For': '192.0.2.77' } });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect((await postSupport(ticket({ email: uniqueEmail('c') }), { ip: freshIp() })).status).toBe(201);
  });

  it('counts an IPv6 client per /64: another address of the same /64 is the same client', async () => {
    const prefix = `2001:db8:${(++ipCounter).toString(16)}:7`;
    expect((await postSupport(ticket({ email: uniqueEmail('v6a') }), { ip: `${prefix}::1` })).status).toBe(201);
    const sameNet = await postSupport(ticket({ email: uniqueEmail('v6b') }), { ip: `${prefix}:abcd:ef01:2345:6789` });
    expect(sameNet.status).toBe(429);
    expect((await postSupport(ticket({ email: uniqueEmail('v6c') }), { ip: `${prefix.replace(/:7$/, ':8')}::1` })).status).toBe(201);
  });

  it('is not a spam relay: at most one confirmation per recipient per 24 h, tickets still stored', async () => {
    const victim = uniqueEmail('victim');
    const results = await Promise.all([1, 2, 3].map((i) => postSupport(ticket({ email: i === 2 ? victim.toUpperCase() : victim, subject: `Spam wave ${i}` }))));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect((await db.sql(`select 1 from support_tickets where email = $1`, [victim])).rows).toHaveLength(3);
    await db.events.drain();
    expect(await mailsTo(victim)).toHaveLength(1);

    // A day later the address may be confirmed again.
    await db.sql(`update support_tickets set created_at = now() - interval '25 hours' where email = $1`, [victim]);
    expect((await postSupport(ticket({ email: victim }))).status).toBe(201);
    await db.events.drain();
    expect(await mailsTo(victim)).toHaveLength(2);
  });

  it('validates subject 5–200, message 10–5000, type/severity enums and unknown keys', async () => {
    const email = uniqueEmail('v');
    for (const body of [
      ticket({ email, subject: 'Hey' }),
      ticket({ email, subject: 'x'.repeat(201) }),
      ticket({ email, message: 'too short' }),
      ticket({ email, message: 'x'.repeat(5001) }),
      ticket({ email, type: 'COMPLAINT' }),
      ticket({ email, severity: 'URGENT' }),
      ticket({ email: 'not-an-email' }),
      ticket({ email, admin: true }),
    ]) {
      const r = await postSupport(body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('ipBucket / clientIpBucket (per-client limit keys)', () => {
  it('IPv4 as is; IPv6 as its /64 (first four hextets of the expanded address)', () => {
    expect(ipBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(ipBucket(' 203.0.113.7 ')).toBe('203.0.113.7');
    expect(ipBucket('2001:0db8:0000:0000:abcd:0000:0000:0005')).toBe('2001:db8:0:0');
    expect(ipBucket('2001:db8::1')).toBe('2001:db8:0:0');
    expect(ipBucket('2001:db8:0:0:abcd::5')).toBe('2001:db8:0:0');
    expect(ipBucket('2001:DB8:1:2:3:4:5:6')).toBe('2001:db8:1:2');
    expect(ipBucket('2001:db8:1:2::')).toBe('2001:db8:1:2');
    expect(ipBucket('2001:db8:1:3::1')).not.toBe(ipBucket('2001:db8:1:2::1'));
    expect(ipBucket('::1')).toBe('0:0:0:0');
    expect(ipBucket('fe80::1%eth0')).toBe('fe80:0:0:0');
    expect(ipBucket('::ffff:192.0.2.1')).toBe('192.0.2.1'); // IPv4-mapped counts as the IPv4 client
    expect(ipBucket(null)).toBeNull();
    expect(ipBucket('')).toBeNull();
    expect(ipBucket('not:an:ip::x::y')).toBe('not:an:ip::x::y'); // unparsable: the raw value, never a shared bucket
  });

  it('reads CF-Connecting-IP (never X-Forwarded-For)', async () => {
    const app = new Hono().get('/', (c) => c.text(clientIpBucket(c) ?? 'none'));
    const bucket = async (headers: Record<string, string>) => (await app.request('/', { headers })).text();
    expect(await bucket({ 'CF-Connecting-IP': '2001:db8::1' })).toBe('2001:db8:0:0');
    expect(await bucket({ 'CF-Connecting-IP': '2001:db8:0:0:abcd::5' })).toBe('2001:db8:0:0');
    expect(await bucket({ 'CF-Connecting-IP': '198.51.100.4' })).toBe('198.51.100.4');
    expect(await bucket({ 'X-Forwarded-For': '198.51.100.4' })).toBe('none');
  });
});
