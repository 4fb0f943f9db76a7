import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Env } from '../src/config';
import { OTP_PLACEHOLDER, userState } from '../src/durable/user-state';
import type { EmailDelivery, PhoneDelivery } from '../src/durable/otp-delivery';
import { fakeFetch, type FakeFetch } from './helpers/fake-fetch';

const stubFor = (id: string) => userState(env as unknown as Env, `${id}-${crypto.randomUUID()}`);

describe('UserState durable object: strict per-user limits', () => {
  it('holds under 10 concurrent hits: exactly `limit` are allowed', async () => {
    const stub = stubFor('concurrent');
    const results = await Promise.all(Array.from({ length: 10 }, () => stub.hit('otp-send', { limit: 3, windowMs: 60_000 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(3);
    const refused = results.filter((r) => !r.allowed);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(r.retryAfterMs).toBeGreaterThan(0);
  });

  it('resets after the window, and keeps keys and users apart', async () => {
    const stub = stubFor('window');
    const spec = { limit: 1, windowMs: 1000 };
    const t = Date.now() + 3_600_000; // a controlled clock in the future, so the cleanup alarm stays pending
    expect((await stub.hit('a', spec, t)).allowed).toBe(true);
    expect((await stub.hit('a', spec, t + 500)).allowed).toBe(false);
    expect((await stub.hit('b', spec, t + 500)).allowed).toBe(true);
    expect((await stubFor('other').hit('a', spec, t + 500)).allowed).toBe(true);
    expect(await stub.peek('a', spec, t + 999)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 });
    expect((await stub.hit('a', spec, t + 1000)).allowed).toBe(true);
  });

  it('refund gives one hit back within the window', async () => {
    const stub = stubFor('refund');
    const spec = { limit: 1, windowMs: 86_400_000 };
    const t = Date.now() + 3_600_000;
    expect((await stub.hit('export', spec, t)).allowed).toBe(true);
    expect((await stub.hit('export', spec, t + 1)).allowed).toBe(false);
    await stub.refund('export', t + 2);
    expect((await stub.hit('export', spec, t + 3)).allowed).toBe(true);
    expect((await stub.hit('export', spec, t + 86_399_999)).allowed).toBe(false);
    expect((await stub.hit('export', spec, t + 86_400_000)).allowed).toBe(true);
  });

  it('an alarm removes expired counters', async () => {
    const stub = stubFor('alarm');
    const past = Date.now() - 60_000;
    await stub.hit('old', { limit: 5, windowMs: 1000 }, past);
    await stub.hit('live', { limit: 5, windowMs: 3_600_000 });
    await runDurableObjectAlarm(stub);
    const keys = await runInDurableObject(stub, (_instance, state) => [...state.storage.kv.list({ prefix: 'limit:' })].map(([k]) => k));
    expect(keys).toEqual(['limit:live']);
  });
});

// ─────────────────────────── OTP state, with a controlled clock ───────────────────────────

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const twilio: PhoneDelivery = { kind: 'twilio', baseUrl: 'https://api.twilio.com', accountSid: 'ACtest', authToken: 'tok', from: '+15005550006' };
const resend: EmailDelivery = { kind: 'resend', apiKey: 're_test', baseUrl: 'https://api.resend.com', from: 'FairArena <no-reply@fairarena.test>' };
let seq = 0;
const newPhone = () => `+9198${String(Date.now() % 1e5).padStart(5, '0')}${String(seq++ % 1000).padStart(3, '0')}`;
const newUser = () => `user_do_${crypto.randomUUID().slice(0, 12)}`;

let provider: FakeFetch;
let smsBodies: { to: string; body: string }[];
let calls: { to: string; twiml: string }[];
let mails: { subject: string; text: string; html: string }[];

beforeEach(() => {
  smsBodies = [];
  calls = [];
  mails = [];
  provider = fakeFetch({
    'POST https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages.json': async (req) => {
      const form = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer()));
      smsBodies.push({ to: form.get('To')!, body: form.get('Body')! });
      return Response.json({ sid: `SM${crypto.randomUUID().replaceAll('-', '')}`, status: 'queued' }, { status: 201 });
    },
    'POST https://api.twilio.com/2010-04-01/Accounts/ACtest/Calls.json': async (req) => {
      const form = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer()));
      calls.push({ to: form.get('To')!, twiml: form.get('Twiml')! });
      return Response.json({ sid: `CA${crypto.randomUUID().replaceAll('-', '')}`, status: 'queued' }, { status: 201 });
    },
    'POST https://api.resend.com/emails': async (req) => {
      mails.push((await req.json()) as { subject: string; text: string; html: string });
      return Response.json({ id: crypto.randomUUID() });
    },
  });
});
afterEach(() => provider.restore());

const lastSmsCode = () => /\b(\d{6})\b/.exec(smsBodies.at(-1)!.body)![1]!;
const lastVoiceCode = () => /code is: ([\d, ]+)\./.exec(calls.at(-1)!.twiml)![1]!.replaceAll(', ', '');
const lastMailCode = () => /\b([A-Z2-9]{8})\b/.exec(mails.at(-1)!.text)![1]!;
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

/** A user's object plus helpers bound to it. T is far in the future so cleanup alarms stay pending. */
function user() {
  const id = newUser();
  const stub = userState(env as unknown as Env, id);
  return {
    id,
    stub,
    send: (phone: string, now: number, channel: 'sms' | 'voice' = 'sms') => stub.sendPhoneOtp({ userId: id, channel, phone, delivery: twilio }, now),
    verify: (code: string, now: number, channel: 'sms' | 'voice' = 'sms') => stub.verifyPhoneOtp({ userId: id, channel, code }, now),
    stepUp: (now: number) =>
      stub.sendStepUpOtp(
        { userId: id, email: { to: `${id}@example.test`, subject: `${OTP_PLACEHOLDER} is your code`, html: `<p>${OTP_PLACEHOLDER}</p>`, text: `Code: ${OTP_PLACEHOLDER}`, template: 'step-up-code' }, delivery: resend },
        now,
      ),
    verifyStepUp: (code: string, now: number) => stub.verifyStepUpOtp({ userId: id, code }, now),
  };
}
const T = () => Date.now() + 10 * DAY;

describe('UserState: phone OTP', () => {
  it('sends a uniform 6-digit code through the provider and stores only its HMAC', async () => {
    const u = user();
    const phone = newPhone();
    const t = T();
    const r = await u.send(phone, t);
    expect(r).toEqual({ ok: true, expiresAt: t + 15 * MIN, sendsRemaining: 2, resendAfterMs: 120_000 });
    expect(smsBodies).toHaveLength(1);
    expect(smsBodies[0]!.to).toBe(phone);
    const code = lastSmsCode();
    expect(smsBodies[0]!.body).toContain('expires in 15 minutes');
    const stored = await runInDurableObject(u.stub, (_i, state) => JSON.stringify([...state.storage.kv.list()]));
    expect(stored).not.toContain(code);
    expect(stored).toMatch(/"hash":"[0-9a-f]{64}"/);
  });

  it('120 s cooldown between sends (SMS and voice share it)', async () => {
    const u = user();
    const phone = newPhone();
    const t = T();
    expect((await u.send(phone, t)).ok).toBe(true);
    expect(await u.send(phone, t + 119_000, 'voice')).toEqual({ ok: false, reason: 'cooldown', retryAfterMs: 1000 });
    expect((await u.send(phone, t + 120_000, 'voice')).ok).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('3 sends per 24 h per user, whatever the channel or number', async () => {
    const u = user();
    const t = T();
    expect((await u.send(newPhone(), t)).ok).toBe(true);
    expect((await u.send(newPhone(), t + 2 * MIN, 'voice')).ok).toBe(true);
    const third = await u.send(newPhone(), t + 4 * MIN);
    expect(third).toMatchObject({ ok: true, sendsRemaining: 0 });
    expect(await u.send(newPhone(), t + 6 * MIN)).toEqual({ ok: false, reason: 'limit', retryAfterMs: DAY - 6 * MIN });
    expect((await u.send(newPhone(), t + DAY)).ok).toBe(true);
  });

  it('a code is valid for 15 minutes and verifies once', async () => {
    const u = user();
    const phone = newPhone();
    const t = T();
    await u.send(phone, t, 'voice');
    const code = lastVoiceCode();
    expect(code).toMatch(/^\d{6}$/);
    expect(await u.verify(code, t + 15 * MIN, 'voice')).toEqual({ ok: false, reason: 'no_code' });

    await u.send(phone, t + 20 * MIN, 'voice');
    const fresh = lastVoiceCode();
    expect(await u.verify(fresh, t + 35 * MIN - 1, 'voice')).toEqual({ ok: true, phone });
    expect(await u.verify(fresh, t + 35 * MIN - 1, 'voice')).toEqual({ ok: false, reason: 'no_code' });
  });

  it('5 wrong tries kill the code', async () => {
    const u = user();
    const t = T();
    await u.send(newPhone(), t, 'voice');
    const code = lastVoiceCode();
    for (let i = 1; i <= 4; i++) expect(await u.verify(wrong(code), t + i, 'voice')).toEqual({ ok: false, reason: 'invalid', remainingAttempts: 5 - i });
    expect(await u.verify(wrong(code), t + 5, 'voice')).toMatchObject({ ok: false, reason: 'killed' });
    expect(await u.verify(code, t + 6, 'voice')).toEqual({ ok: false, reason: 'no_code' });
  });

  it('SMS: 3 verify calls per hour, counted before the code is checked', async () => {
    const u = user();
    const t = T();
    await u.send(newPhone(), t);
    const code = lastSmsCode();
    expect((await u.verify('000000', t + 1)).ok).toBe(false);
    expect((await u.verify('111111', t + 2)).ok).toBe(false);
    expect((await u.verify('222222', t + 3)).ok).toBe(false);
    // even the right code: the window (anchored at the first call, t + 1) is used up
    expect(await u.verify(code, t + 4)).toEqual({ ok: false, reason: 'rate_limited', retryAfterMs: HOUR - 3 });
    // an hour later the calls are counted afresh (that code has expired by then: send a new one)
    await u.send(newPhone(), t + HOUR + 1);
    expect((await u.verify(lastSmsCode(), t + HOUR + 2)).ok).toBe(true);
  });

  it('a code verifies only on the channel it was sent on', async () => {
    const u = user();
    const t = T();
    await u.send(newPhone(), t, 'voice');
    expect(await u.verify(lastVoiceCode(), t + 1, 'sms')).toEqual({ ok: false, reason: 'no_code' });
    expect((await u.verify(lastVoiceCode(), t + 2, 'voice')).ok).toBe(true);
  });

  it('restoreOtp puts back a verified code (with its wrong tries) only given that code, never over a newer one', async () => {
    const u = user();
    const phone = newPhone();
    const t = T();
    await u.send(phone, t, 'voice');
    const code = lastVoiceCode();
    expect(await u.verify(wrong(code), t + 1, 'voice')).toEqual({ ok: false, reason: 'invalid', remainingAttempts: 4 });
    expect(await u.verify(code, t + 2, 'voice')).toEqual({ ok: true, phone });
    expect(await u.verify(code, t + 3, 'voice')).toEqual({ ok: false, reason: 'no_code' });
    expect(await u.stub.restoreOtp({ userId: u.id, purpose: 'phone', code: wrong(code) }, t + 4)).toBe(false);
    expect(await u.stub.restoreOtp({ userId: u.id, purpose: 'phone', code }, t + 5)).toBe(true);
    // the wrong tries made before still count
    expect(await u.verify(wrong(code), t + 6, 'voice')).toEqual({ ok: false, reason: 'invalid', remainingAttempts: 3 });
    expect(await u.verify(code, t + 7, 'voice')).toEqual({ ok: true, phone });
    // a newer code is never replaced by an older one
    await u.send(phone, t + 3 * MIN, 'voice');
    expect(await u.stub.restoreOtp({ userId: u.id, purpose: 'phone', code }, t + 3 * MIN + 1)).toBe(false);
    expect((await u.verify(lastVoiceCode(), t + 3 * MIN + 2, 'voice')).ok).toBe(true);
    // nor after it expired
    expect(await u.stub.restoreOtp({ userId: u.id, purpose: 'phone', code: lastVoiceCode() }, t + 20 * MIN)).toBe(false);
  });

  it("another user cannot verify someone else's code; an object serves one user only", async () => {
    const a = user();
    const b = user();
    const t = T();
    await a.send(newPhone(), t, 'voice');
    const code = lastVoiceCode();
    expect(await b.verify(code, t + 1, 'voice')).toEqual({ ok: false, reason: 'no_code' });
    const misuse = await a.stub.verifyPhoneOtp({ userId: b.id, channel: 'voice', code }, t + 2).then(
      () => null,
      (err: Error) => err.message,
    );
    expect(misuse).toMatch(/different user/);
    expect((await a.verify(code, t + 3, 'voice')).ok).toBe(true);
  });

  it('an SMS that may have gone out (Twilio 5xx) keeps the quota, the cooldown and the code', async () => {
    provider.on('POST https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages.json', async (req) => {
      const form = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer()));
      smsBodies.push({ to: form.get('To')!, body: form.get('Body')! });
      return Response.json({ code: 20500, message: 'Internal Server Error', status: 500 }, { status: 500 });
    });
    const u = user();
    const phone = newPhone();
    const t = T();
    expect(await u.send(phone, t)).toEqual({ ok: false, reason: 'delivery_unconfirmed', retryAfterMs: 120_000 });
    expect(await u.send(phone, t + 1)).toMatchObject({ ok: false, reason: 'cooldown' });
    expect(await u.stub.peek('otp:phone:send', { limit: 3, windowMs: DAY }, t + 2)).toMatchObject({ remaining: 2 });
    expect(await u.verify(lastSmsCode(), t + 3)).toEqual({ ok: true, phone });
  });

  it('a delivery the provider refused (4xx) gives the quota back and leaves no code or cooldown', async () => {
    provider.on('POST https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages.json', () =>
      Response.json({ code: 21211, message: 'Invalid To number', status: 400 }, { status: 400 }),
    );
    const u = user();
    const phone = newPhone();
    const t = T();
    expect(await u.send(phone, t)).toEqual({ ok: false, reason: 'delivery_failed', retryAfterMs: 0 });
    expect(await u.verify('123456', t + 1)).toEqual({ ok: false, reason: 'no_code' });
    provider.on('POST https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages.json', () => Response.json({ sid: 'SM1' }, { status: 201 }));
    expect(await u.send(phone, t + 2)).toMatchObject({ ok: true, sendsRemaining: 2 });
  });
});

describe('UserState: one number, several users', () => {
  it('codes for one number can be out to several users at once; each verifies only their own', async () => {
    const attacker = user();
    const victim = user();
    const phone = newPhone();
    const t = T();
    expect((await attacker.send(phone, t)).ok).toBe(true);
    const attackerCode = lastSmsCode();
    // the attacker's code does not hold the number: the victim's send is unaffected and costs the victim one send
    expect(await victim.send(phone, t + 1)).toEqual({ ok: true, expiresAt: t + 1 + 15 * MIN, sendsRemaining: 2, resendAfterMs: 120_000 });
    const victimCode = lastSmsCode();
    expect(smsBodies.map((m) => m.to)).toEqual([phone, phone]);
    expect(await attacker.stub.peek('otp:phone:send', { limit: 3, windowMs: DAY }, t + 2)).toMatchObject({ remaining: 2 });
    // the objects only check codes: which account gets the number is the database's call
    expect(await victim.verify(victimCode, t + 2)).toEqual({ ok: true, phone });
    if (attackerCode !== victimCode) expect(await attacker.verify(victimCode, t + 3)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await attacker.verify(attackerCode, t + 4)).toEqual({ ok: true, phone });
  });

  it('concurrent sends by two users for one number: both are sent', async () => {
    const a = user();
    const b = user();
    const phone = newPhone();
    const t = T();
    const [ra, rb] = await Promise.all([a.send(phone, t), b.send(phone, t)]);
    expect([ra.ok, rb.ok]).toEqual([true, true]);
    expect(smsBodies).toHaveLength(2);
  });

  it('a user over their own limits is refused before anything is stored or sent', async () => {
    const attacker = user();
    const t = T();
    for (let i = 0; i < 3; i++) expect((await attacker.send(newPhone(), t + i * 3 * MIN)).ok).toBe(true);
    const before = await runInDurableObject(attacker.stub, (_i, state) => JSON.stringify(state.storage.kv.get('otp:phone')));
    expect(await attacker.send(newPhone(), t + 10 * MIN)).toMatchObject({ ok: false, reason: 'limit' });
    expect(await runInDurableObject(attacker.stub, (_i, state) => JSON.stringify(state.storage.kv.get('otp:phone')))).toBe(before);
    expect(smsBodies).toHaveLength(3);
  });

  it('an alarm clears expired codes and cooldowns', async () => {
    const u = user();
    const past = Date.now() - 20 * MIN;
    await u.send(newPhone(), past);
    await runDurableObjectAlarm(u.stub);
    const keys = await runInDurableObject(u.stub, (_i, state) => [...state.storage.kv.list()].map(([k]) => k).sort());
    expect(keys).toEqual(['limit:otp:phone:send', 'owner']); // the 24 h counter is still live
  });
});

describe('UserState: step-up email OTP', () => {
  it('emails an 8-character unambiguous code (placeholder filled), valid 10 minutes, case-insensitive', async () => {
    const u = user();
    const t = T();
    expect(await u.stepUp(t)).toEqual({ ok: true, expiresAt: t + 10 * MIN, sendsRemaining: 4, resendAfterMs: 60_000 });
    const code = lastMailCode();
    expect(code).toMatch(/^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/);
    expect(mails[0]!.subject).toBe(`${code} is your code`);
    expect(mails[0]!.html).not.toContain(OTP_PLACEHOLDER);
    expect(await u.verifyStepUp(code, t + 10 * MIN)).toEqual({ ok: false, reason: 'no_code' });
    await u.stepUp(t + 11 * MIN);
    expect(await u.verifyStepUp(lastMailCode().toLowerCase(), t + 12 * MIN)).toEqual({ ok: true });
  });

  it('60 s cooldown, 5 sends per 30 minutes', async () => {
    const u = user();
    const t = T();
    expect((await u.stepUp(t)).ok).toBe(true);
    expect(await u.stepUp(t + 59_000)).toEqual({ ok: false, reason: 'cooldown', retryAfterMs: 1000 });
    for (let i = 1; i <= 4; i++) expect((await u.stepUp(t + i * MIN)).ok).toBe(true);
    expect(await u.stepUp(t + 6 * MIN)).toEqual({ ok: false, reason: 'limit', retryAfterMs: 24 * MIN });
    expect((await u.stepUp(t + 30 * MIN)).ok).toBe(true);
  });

  it('the 5th wrong try locks verification and sending for 30 minutes', async () => {
    const u = user();
    const t = T();
    await u.stepUp(t);
    const code = lastMailCode();
    for (let i = 1; i <= 4; i++) expect(await u.verifyStepUp('WRONGCDE', t + i)).toEqual({ ok: false, reason: 'invalid', remainingAttempts: 5 - i });
    expect(await u.verifyStepUp('WRONGCDE', t + 5)).toEqual({ ok: false, reason: 'locked', retryAfterMs: 30 * MIN, justLocked: true });
    expect(await u.verifyStepUp(code, t + 6)).toEqual({ ok: false, reason: 'locked', retryAfterMs: 30 * MIN - 1 });
    expect(await u.stepUp(t + 2 * MIN)).toMatchObject({ ok: false, reason: 'locked' });
    // after the lockout: a new code works, and the failure count starts again
    expect((await u.stepUp(t + 30 * MIN + 5)).ok).toBe(true);
    expect(await u.verifyStepUp('WRONGCDE', t + 30 * MIN + 6)).toEqual({ ok: false, reason: 'invalid', remainingAttempts: 4 });
    expect(await u.verifyStepUp(lastMailCode(), t + 30 * MIN + 7)).toEqual({ ok: true });
  });

  it('an email Resend refuses (4xx) gives the send back', async () => {
    provider.on('POST https://api.resend.com/emails', () => Response.json({ statusCode: 422, name: 'validation_error', message: 'Invalid `to` field' }, { status: 422 }));
    const u = user();
    const t = T();
    expect(await u.stepUp(t)).toEqual({ ok: false, reason: 'delivery_failed', retryAfterMs: 0 });
    expect(await u.stub.peek('otp:stepup:send', { limit: 5, windowMs: 30 * MIN }, t)).toMatchObject({ remaining: 5 });
  });

  it('an email that may have gone out (Resend 5xx) keeps the send, the cooldown and the code', async () => {
    provider.on('POST https://api.resend.com/emails', async (req) => {
      mails.push((await req.json()) as { subject: string; text: string; html: string });
      return Response.json({ statusCode: 500, name: 'application_error', message: 'down' }, { status: 500 });
    });
    const u = user();
    const t = T();
    expect(await u.stepUp(t)).toEqual({ ok: false, reason: 'delivery_unconfirmed', retryAfterMs: 60_000 });
    expect(await u.stub.peek('otp:stepup:send', { limit: 5, windowMs: 30 * MIN }, t)).toMatchObject({ remaining: 4 });
    expect(await u.stepUp(t + 1)).toMatchObject({ ok: false, reason: 'cooldown' });
    expect(await u.verifyStepUp(lastMailCode(), t + 2)).toEqual({ ok: true });
  });
});

describe('UserState: free-credit claim slot', () => {
  it('one claim in flight; 3 attempts per 24 h; a refunded attempt does not count', async () => {
    const u = user();
    const t = T();
    expect(await u.stub.beginClaim(t)).toEqual({ ok: true, attemptsRemaining: 2 });
    expect(await u.stub.beginClaim(t + 1)).toEqual({ ok: false, reason: 'in_progress', retryAfterMs: 29_999 });
    await u.stub.endClaim({ refund: true }, t + 2);
    expect(await u.stub.beginClaim(t + 3)).toEqual({ ok: true, attemptsRemaining: 2 });
    await u.stub.endClaim({}, t + 4);
    expect((await u.stub.beginClaim(t + 5)).ok).toBe(true);
    await u.stub.endClaim({}, t + 6);
    expect((await u.stub.beginClaim(t + 7)).ok).toBe(true);
    await u.stub.endClaim({}, t + 8);
    // the 24 h window is anchored at the first attempt (t), refunded or not
    expect(await u.stub.beginClaim(t + 9)).toEqual({ ok: false, reason: 'limit', retryAfterMs: DAY - 9 });
    expect((await u.stub.beginClaim(t + DAY)).ok).toBe(true);
  });

  it('an abandoned slot frees itself after 30 s', async () => {
    const u = user();
    const t = T();
    await u.stub.beginClaim(t);
    expect((await u.stub.beginClaim(t + 30_000)).ok).toBe(true);
  });
});
