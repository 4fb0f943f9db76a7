import { describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();

let ipCounter = 0;
const freshIp = () => `203.0.113.${++ipCounter}`;
const uniqueEmail = (tag: string) => `${tag}.${crypto.randomUUID().slice(0, 8)}@example.test`;

const post = (path: string, json: unknown, options: { ip?: string; token?: string; env?: Env; headers?: Record<string, string> } = {}) =>
  call(options.env ?? db.env, `/api/v1${path}`, { method: 'POST', json, ip: options.ip ?? freshIp(), token: options.token, headers: options.headers });

const mailsTo = async (to: string) =>
  (await db.sql<{ subject: string; html: string; text: string }>(`select subject, html, text from dev_emails where "to" = $1 order by created_at`, [to])).rows;

const subscriber = async (email: string) =>
  (await db.sql<{ status: string; confirmed_at: Date | null }>(`select status, confirmed_at from newsletter_subscribers where email = $1`, [email])).rows[0];

/** The {email, token} pair of a link in the latest mail to `to` ("Confirm subscription: …" / "Unsubscribe: …"). */
async function linkParams(to: string, label: 'Confirm subscription' | 'Unsubscribe') {
  const mails = await mailsTo(to);
  const text = mails.at(-1)!.text;
  const url = new URL(new RegExp(`${label}: (\\S+)`).exec(text)![1]!);
  return { url, email: url.searchParams.get('email')!, token: url.searchParams.get('token')! };
}

describe('newsletter: double opt-in', () => {
  it('subscribe → pending + confirmation mail with a signed link → confirm → subscribed', async () => {
    const email = uniqueEmail('Reader');
    const r = await post('/newsletter/subscribe', { email: email.toUpperCase() });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ data: { status: 'confirmation_sent_if_needed' } });
    expect(await subscriber(email.toLowerCase())).toMatchObject({ status: 'pending', confirmed_at: null });

    await db.events.drain();
    const lower = email.toLowerCase();
    const mails = await mailsTo(lower);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('Confirm your FairArena newsletter subscription');
    const confirm = await linkParams(lower, 'Confirm subscription');
    expect(confirm.url.origin + confirm.url.pathname).toBe('http://localhost:5173/newsletter/confirm');
    expect(confirm.email).toBe(lower);
    expect(confirm.token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const ok = await post('/newsletter/confirm', { email: confirm.email, token: confirm.token });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ status: 'subscribed' });
    expect((await subscriber(lower))!.status).toBe('subscribed');
    expect((await post('/newsletter/confirm', { email: confirm.email, token: confirm.token })).status).toBe(200); // idempotent
  });

  it('answers every subscribe the same way (no enumeration) and never re-mails within 24 h', async () => {
    const email = uniqueEmail('same');
    const first = await post('/newsletter/subscribe', { email });
    const pending = await post('/newsletter/subscribe', { email });
    await db.events.drain();
    await db.sql(`update newsletter_subscribers set status = 'subscribed', confirmed_at = now() where email = $1`, [email]);
    const subscribed = await post('/newsletter/subscribe', { email });
    for (const r of [first, pending, subscribed]) {
      expect(r.status).toBe(202);
      expect(r.body).toEqual(first.body);
    }
    await db.events.drain();
    expect(await mailsTo(email)).toHaveLength(1);

    // a pending address is reminded at most once per 24 h
    const later = uniqueEmail('later');
    await post('/newsletter/subscribe', { email: later });
    await post('/newsletter/subscribe', { email: later });
    await db.sql(`update newsletter_subscribers set updated_at = now() - interval '25 hours' where email = $1`, [later]);
    await post('/newsletter/subscribe', { email: later });
    await db.events.drain();
    expect(await mailsTo(later)).toHaveLength(2);
  });

  it('confirm refuses a missing, forged, other-purpose or other-address token with 403', async () => {
    const email = uniqueEmail('c');
    await post('/newsletter/subscribe', { email });
    await db.events.drain();
    const { token } = await linkParams(email, 'Confirm subscription');
    const unsubscribeToken = (await linkParams(email, 'Unsubscribe')).token;
    const otherEmail = uniqueEmail('other');
    for (const json of [{ email }, { email, token: 'A'.repeat(43) }, { email, token: unsubscribeToken }, { email: otherEmail, token }, { email, token: token.slice(0, -1) }]) {
      const r = await post('/newsletter/confirm', json);
      expect(r.status, JSON.stringify(json)).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    expect((await subscriber(email))!.status).toBe('pending');
  });

  it('subscribe: 1 per hour per CF-Connecting-IP (X-Forwarded-For ignored); invalid input → 400', async () => {
    const ip = freshIp();
    expect((await post('/newsletter/subscribe', { email: uniqueEmail('a') }, { ip })).status).toBe(202);
    const second = await post('/newsletter/subscribe', { email: uniqueEmail('b') }, { ip, headers: { 'X-Forwarded-For': '192.0.2.10' } });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('Retry-After'))).toBeGreaterThan(0);
    for (const json of [{ email: 'nope' }, {}, { email: uniqueEmail('x'), list: 'all' }]) expect((await post('/newsletter/subscribe', json)).status).toBe(400);
  });

  it('confirm / unsubscribe: 10 per hour per client IP', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await post('/newsletter/unsubscribe', { email: uniqueEmail('u'), token: 'forged' }, { ip })).status);
    expect(statuses).toEqual([...Array(10).fill(403), 429]);
  });

  it('an IPv6 client counts as its /64: other addresses of the same /64 share the subscribe and the token limits', async () => {
    const prefix = `2001:db8:${(++ipCounter).toString(16)}:77`;
    expect((await post('/newsletter/subscribe', { email: uniqueEmail('v6') }, { ip: `${prefix}::1` })).status).toBe(202);
    const sibling = await post('/newsletter/subscribe', { email: uniqueEmail('v6') }, { ip: `${prefix}:ffff:ffff:ffff:fffe` });
    expect(sibling.status).toBe(429);
    expect((await post('/newsletter/subscribe', { email: uniqueEmail('v6') }, { ip: `2001:db8:${(++ipCounter).toString(16)}:77::1` })).status).toBe(202);

    const tokenPrefix = `2001:db8:${(++ipCounter).toString(16)}:88`;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const path = i % 2 ? '/newsletter/unsubscribe' : '/newsletter/confirm';
      statuses.push((await post(path, { email: uniqueEmail('t'), token: 'forged' }, { ip: `${tokenPrefix}:0:0:0:${(i + 1).toString(16)}` })).status);
    }
    expect(statuses).toEqual([...Array(10).fill(403), 429]);
  });

  it('503 while NEWSLETTER_TOKEN_SECRET is unset', async () => {
    const env = { ...db.env, NEWSLETTER_TOKEN_SECRET: '' } as Env;
    const r = await post('/newsletter/subscribe', { email: uniqueEmail('n') }, { env });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('newsletter: unsubscribe needs the signed token from the email', () => {
  async function subscribed(tag: string) {
    const email = uniqueEmail(tag);
    await post('/newsletter/subscribe', { email });
    await db.events.drain();
    const confirm = await linkParams(email, 'Confirm subscription');
    expect((await post('/newsletter/confirm', { email, token: confirm.token })).status).toBe(200);
    return { email, unsubscribe: await linkParams(email, 'Unsubscribe') };
  }

  it('without a token, or with a forged one, or with the attacker’s own token → 403 and still subscribed', async () => {
    const victim = await subscribed('victim');
    const attacker = await subscribed('attacker');
    for (const json of [
      { email: victim.email },
      { email: victim.email, token: '' },
      { email: victim.email, token: 'forged-token' },
      { email: victim.email, token: attacker.unsubscribe.token },
    ]) {
      const r = await post('/newsletter/unsubscribe', json);
      expect(r.status, JSON.stringify(json)).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
      expect(r.body.error.message).not.toContain(victim.email);
    }
    expect((await subscriber(victim.email))!.status).toBe('subscribed');
  });

  it('with the link from the email → unsubscribed (idempotent); re-subscribing restarts double opt-in', async () => {
    const { email, unsubscribe } = await subscribed('leaver');
    expect(unsubscribe.url.pathname).toBe('/newsletter/unsubscribe');
    const r = await post('/newsletter/unsubscribe', { email: unsubscribe.email, token: unsubscribe.token });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'unsubscribed' });
    expect((await subscriber(email))!.status).toBe('unsubscribed');
    expect((await post('/newsletter/unsubscribe', { email, token: unsubscribe.token })).body).toEqual(r.body);

    const before = (await mailsTo(email)).length;
    expect((await post('/newsletter/subscribe', { email })).status).toBe(202);
    expect(await subscriber(email)).toMatchObject({ status: 'pending', confirmed_at: null });
    await db.events.drain();
    expect(await mailsTo(email)).toHaveLength(before + 1);
  });

  it('an address never subscribed gets the same 200 (nothing revealed)', async () => {
    const { unsubscribe } = await subscribed('known');
    await db.sql(`delete from newsletter_subscribers where email = $1`, [unsubscribe.email]);
    const r = await post('/newsletter/unsubscribe', { email: unsubscribe.email, token: unsubscribe.token });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'unsubscribed' });
  });
});

describe('POST /api/v1/platform/invite', () => {
  it('sends an escaped invite with the sign-up link and subscribes the invitee to nothing', async () => {
    const inviter = await signUp(db, { firstName: '<b>Eve</b>', lastName: 'Smith' });
    const email = uniqueEmail('Friend');
    const r = await post('/platform/invite', { email: email.toUpperCase() }, { token: inviter.token });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ data: { accepted: true } });
    const lower = email.toLowerCase();
    expect((await db.sql(`select inviter_id from platform_invites where email = $1`, [lower])).rows).toEqual([{ inviter_id: inviter.id }]);
    await db.events.drain();
    const mails = await mailsTo(lower);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe("You're invited to join FairArena");
    expect(mails[0]!.html).toContain('&lt;b&gt;Eve&lt;/b&gt; Smith');
    expect(mails[0]!.html).not.toContain('<b>Eve</b>');
    expect(mails[0]!.text).toContain('http://localhost:5173/signup');
    expect((await db.sql(`select 1 from newsletter_subscribers where email = $1`, [lower])).rows).toHaveLength(0);
  });

  it('no invite to an existing user or to an address invited in the last 7 days — with the same answer', async () => {
    const inviter = await signUp(db);
    const member = await signUp(db);
    const existing = await post('/platform/invite', { email: member.email.toUpperCase() }, { token: inviter.token });
    expect(existing.status).toBe(202);
    expect(existing.body).toEqual({ data: { accepted: true } });

    const email = uniqueEmail('twice');
    const other = await signUp(db);
    await post('/platform/invite', { email }, { token: inviter.token });
    const again = await post('/platform/invite', { email }, { token: other.token });
    expect(again.body).toEqual(existing.body);
    await db.events.drain();
    expect(await mailsTo(member.email)).toEqual([]);
    expect(await mailsTo(email)).toHaveLength(1);
    expect((await db.sql(`select 1 from platform_invites where email = $1`, [email])).rows).toHaveLength(1);

    await db.sql(`update platform_invites set created_at = now() - interval '8 days' where email = $1`, [email]);
    await post('/platform/invite', { email }, { token: other.token });
    await db.events.drain();
    expect(await mailsTo(email)).toHaveLength(2);
  });

  it('3 per hour per user, then 429; 401 without a session; 400 on a bad email', async () => {
    const inviter = await signUp(db);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post('/platform/invite', { email: uniqueEmail(`i${i}`) }, { token: inviter.token })).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    expect((await post('/platform/invite', { email: uniqueEmail('x') })).status).toBe(401);
    const fresh = await signUp(db);
    expect((await post('/platform/invite', { email: 'not an email' }, { token: fresh.token })).status).toBe(400);
    expect((await post('/platform/invite', { email: uniqueEmail('y'), message: 'hi' }, { token: fresh.token })).status).toBe(400);
  });
});
