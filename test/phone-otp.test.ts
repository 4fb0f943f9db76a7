import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { OTP_POLICY, PHONE_SENDS_OBJECT, phoneNumberState, userState } from '../src/durable/user-state';
import { NUMBER_LIMITS } from '../src/services/phone/caps';
import { USER_STATE_DEADLINE_MS } from '../src/services/phone/strict';
import { useTestDatabase, withDatabaseHanging } from './helpers/db';
import { fakeFetch, hang, type FakeFetch } from './helpers/fake-fetch';
import { call, type CallResult } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();

const SID = 'AC00000000000000000000000000000000'; // TWILIO_ACCOUNT_SID in vitest.config.ts
const MESSAGES = `POST https://api.twilio.com/2010-04-01/Accounts/${SID}/Messages.json`;
const CALLS = `POST https://api.twilio.com/2010-04-01/Accounts/${SID}/Calls.json`;
const MIN = 60_000;

let twilio: FakeFetch;
let sms: { to: string; from: string; body: string; auth: string | null }[];
let voice: { to: string; twiml: string }[];
/** Every HTTP answer of the file, to prove no code ever appears in one. */
const responses: string[] = [];
/** Every code the provider was given. */
const codes = new Set<string>();

beforeEach(() => {
  sms = [];
  voice = [];
  twilio = fakeFetch({
    [MESSAGES]: async (req) => {
      const form = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer()));
      const body = form.get('Body')!;
      sms.push({ to: form.get('To')!, from: form.get('From')!, body, auth: req.headers.get('Authorization') });
      codes.add(/\b(\d{6})\b/.exec(body)![1]!);
      return Response.json({ sid: `SM${crypto.randomUUID().replaceAll('-', '')}`, status: 'queued', to: form.get('To') }, { status: 201 });
    },
    [CALLS]: async (req) => {
      const form = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer()));
      const twiml = form.get('Twiml')!;
      voice.push({ to: form.get('To')!, twiml });
      codes.add(/code is: ([\d, ]+)\./.exec(twiml)![1]!.replaceAll(', ', ''));
      return Response.json({ sid: `CA${crypto.randomUUID().replaceAll('-', '')}`, status: 'queued' }, { status: 201 });
    },
  });
});
afterEach(() => {
  twilio.restore();
  vi.restoreAllMocks();
});

let n = 0;
/** A fresh valid Indian mobile number. */
const newPhone = () => `+9197${String(Date.now() % 1e5).padStart(5, '0')}${String(n++ % 1000).padStart(3, '0')}`;

async function api(env: Env, path: string, token: string | undefined, json?: unknown, headers?: Record<string, string>): Promise<CallResult> {
  const r = await call(env, `/api/v1/credits${path}`, { method: json === undefined && path === '/eligibility' ? 'GET' : 'POST', token, json, headers });
  responses.push(JSON.stringify({ status: r.status, body: r.body, headers: [...r.headers] }));
  return r;
}
const send = (u: TestUser, phone: string, env: Env = db.env, extra: Record<string, unknown> = {}) =>
  api(env, '/send-otp', u.token, { phoneNumber: phone, ...extra });
const sendVoice = (u: TestUser, phone: string) => api(db.env, '/send-voice-otp', u.token, { phoneNumber: phone });
const verify = (u: TestUser, otp: string, path = '/verify-otp', env: Env = db.env) => api(env, path, u.token, { otp });
const smsCode = () => /\b(\d{6})\b/.exec(sms.at(-1)!.body)![1]!;
const voiceCode = () => /code is: ([\d, ]+)\./.exec(voice.at(-1)!.twiml)![1]!.replaceAll(', ', '');
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
const userRow = async (id: string) =>
  (await db.sql<{ phone_number: string | null; phone_verified_at: Date | null }>(`select phone_number, phone_verified_at from users where id = $1`, [id])).rows[0]!;
const actions = async (id: string) =>
  (await db.sql<{ action: string; level: string; metadata: Record<string, unknown> }>(`select action, level, metadata from activity_logs where user_id = $1 order by created_at, action`, [id])).rows;
const twilioDelivery = { kind: 'twilio' as const, baseUrl: 'https://api.twilio.com', accountSid: SID, authToken: 'test-twilio-auth-token', from: '+15005550006' };

describe('POST /credits/send-otp + /verify-otp (SMS)', () => {
  it('texts a code through Twilio; the right code verifies the phone, logs activity and emits phone.verified', async () => {
    const u = await signUp(db, { firstName: 'Grace' });
    const phone = newPhone();
    expect((await call(db.env, '/api/v1/profile', { token: u.token })).body.data).toMatchObject({ phoneNumber: null, phoneVerified: false }); // now cached

    const sent = await send(u, phone);
    expect(sent.status).toBe(200);
    expect(sent.body.data).toEqual({ channel: 'sms', phoneNumber: phone, expiresIn: 900, resendAfter: 120, sendsRemaining: 2 });
    expect(sms).toHaveLength(1);
    expect(sms[0]).toMatchObject({ to: phone, from: '+15005550006', auth: `Basic ${btoa(`${SID}:test-twilio-auth-token`)}` });
    expect(sms[0]!.body).toMatch(/^\d{6} is your FairArena verification code\. It expires in 15 minutes\./);

    const ok = await verify(u, smsCode());
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ phoneVerified: true, phoneNumber: phone });
    const row = await userRow(u.id);
    expect(row.phone_number).toBe(phone);
    expect(row.phone_verified_at).not.toBeNull();
    const log = await actions(u.id);
    expect(log.map((l) => l.action)).toEqual(['otp.sent', 'otp.verified', 'phone.verified']);
    expect(log[0]!.metadata).toEqual({ purpose: 'phone', channel: 'sms', phone: `+91******${phone.slice(-4)}` });
    expect(db.events.names()).toContain('phone.verified');

    // the own-profile cache was dropped after the commit
    expect((await call(db.env, '/api/v1/profile', { token: u.token })).body.data).toMatchObject({ phoneNumber: phone, phoneVerified: true });

    // confirmation email + notification go out through the queue
    await db.events.drain();
    const mail = (await db.sql<{ subject: string; text: string }>(`select subject, text from dev_emails where "to" = $1`, [u.email])).rows;
    expect(mail.map((m) => m.subject)).toContain('Phone number added to your FairArena account');
    expect(mail.find((m) => m.subject.startsWith('Phone number'))!.text).toContain(`+91******${phone.slice(-4)}`);
    const notes = (await db.sql<{ title: string }>(`select title from notifications where user_id = $1`, [u.id])).rows;
    expect(notes.map((x) => x.title)).toContain('Phone number verified');

    // the code is consumed; the account now has a verified phone
    expect((await verify(u, smsCode())).body.error.details.reason).toBe('OTP_EXPIRED');
    const again = await send(u, newPhone());
    expect(again.status).toBe(409);
    expect(again.body.error.details.reason).toBe('ALREADY_VERIFIED');
  });

  it('accepts the national number with countryCode and formatting, answering in E.164', async () => {
    const u = await signUp(db);
    const phone = newPhone();
    const national = phone.slice(3);
    const r = await send(u, `${national.slice(0, 5)} ${national.slice(5)}`, db.env, { countryCode: '+91', isResend: false });
    expect(r.status).toBe(200);
    expect(r.body.data.phoneNumber).toBe(phone);
    expect(sms.at(-1)!.to).toBe(phone);
  });

  it('400: invalid, non-mobile or country-less numbers, unknown keys, malformed codes — nothing sent', async () => {
    const u = await signUp(db);
    const cases: [unknown, string][] = [
      [{ phoneNumber: '+91123' }, 'INVALID_PHONE'],
      [{ phoneNumber: '+442071838750' }, 'NOT_MOBILE'], // a London landline
      [{ phoneNumber: '9876543210' }, 'INVALID_PHONE'], // no country
      [{ phoneNumber: '+919876543210', countryCode: '91' }, ''],
      [{ phoneNumber: '+919876543210', extra: 1 }, ''],
      [{ phoneNumber: 'call me' }, ''],
      [{}, ''],
    ];
    for (const [body, reason] of cases) {
      const r = await api(db.env, '/send-otp', u.token, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      if (reason) expect(r.body.error.details.reason).toBe(reason);
    }
    for (const otp of ['12345', '1234567', 'abcdef', '']) {
      expect((await verify(u, otp)).status).toBe(400);
    }
    expect((await api(db.env, '/verify-otp', u.token, { otp: '123456', phone: 'x' })).status).toBe(400);
    expect(sms).toHaveLength(0);
  });

  it('401 on every route without a session', async () => {
    for (const path of ['/send-otp', '/verify-otp', '/send-voice-otp', '/verify-voice-otp', '/claim']) {
      const r = await api(db.env, path, undefined, path.startsWith('/send') ? { phoneNumber: newPhone() } : path === '/claim' ? undefined : { otp: '123456' });
      expect(r.status, path).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
    expect((await call(db.env, '/api/v1/credits/eligibility')).status).toBe(401);
  });

  it('429 within the 120 s cooldown, with Retry-After and details.retryAfter', async () => {
    const u = await signUp(db);
    const phone = newPhone();
    expect((await send(u, phone)).status).toBe(200);
    const r = await send(u, phone);
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('RATE_LIMITED');
    expect(r.body.error.details.reason).toBe('COOLDOWN');
    const retryAfter = Number(r.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(110);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(r.body.error.details.retryAfter).toBe(retryAfter);
    expect((await sendVoice(u, phone)).status).toBe(429); // one flow: the voice channel shares the cooldown
    expect(sms).toHaveLength(1);
    expect(voice).toHaveLength(0);
  });

  it('429 after 3 sends in 24 h, retrying when the first send ages out (earlier sends made at an earlier clock)', async () => {
    const u = await signUp(db);
    const state = userState(db.env, u.id);
    const start = Date.now() - 30 * MIN;
    for (let i = 0; i < 3; i++) {
      expect((await state.sendPhoneOtp({ userId: u.id, channel: 'sms', phone: newPhone(), delivery: twilioDelivery }, start + i * 10 * MIN)).ok).toBe(true);
    }
    const r = await send(u, newPhone());
    expect(r.status).toBe(429);
    expect(r.body.error.details.reason).toBe('DAILY_LIMIT');
    const retryAfter = Number(r.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(24 * 3600 - 31 * 60);
    expect(retryAfter).toBeLessThanOrEqual(24 * 3600 - 29 * 60);
    expect(r.body.error.details.retryAfter).toBe(retryAfter);
    expect((await sendVoice(u, newPhone())).status).toBe(429);
  });

  it('409 when another account verified the number; 409 PHONE_TAKEN if it happens while the code is out', async () => {
    const owner = await signUp(db);
    const phone = newPhone();
    await db.sql(`update users set phone_number = $2, phone_verified_at = now() where id = $1`, [owner.id, phone]);
    const u = await signUp(db);
    const r = await send(u, phone);
    expect(r.status).toBe(409);
    expect(r.body.error.details.reason).toBe('PHONE_TAKEN');
    expect(sms).toHaveLength(0);

    const late = newPhone();
    expect((await send(u, late)).status).toBe(200);
    const code = smsCode();
    await db.sql(`update users set phone_number = $2, phone_verified_at = now() where id = $1`, [owner.id, late]); // verified elsewhere meanwhile
    const v = await verify(u, code);
    expect(v.status).toBe(409);
    expect(v.body.error.details.reason).toBe('PHONE_TAKEN');
    expect((await userRow(u.id)).phone_verified_at).toBeNull();
  });

  it('whether a number is taken is only answered within the caller\'s limits: past them, 429 for any number', async () => {
    const owner = await signUp(db);
    const registered = newPhone();
    await db.sql(`update users set phone_number = $2, phone_verified_at = now() where id = $1`, [owner.id, registered]);
    const same = (r: CallResult) => [r.status, r.body.error?.code, r.body.error?.details?.reason];

    // an account that spent its codes learns nothing about other numbers
    const spent = await signUp(db);
    const state = userState(db.env, spent.id);
    for (let i = 0; i < 3; i++) {
      expect((await state.sendPhoneOtp({ userId: spent.id, channel: 'sms', phone: newPhone(), delivery: twilioDelivery }, Date.now() - 60 * MIN + i * 5 * MIN)).ok).toBe(true);
    }
    expect(same(await send(spent, registered))).toEqual([429, 'RATE_LIMITED', 'DAILY_LIMIT']);
    expect(same(await send(spent, newPhone()))).toEqual([429, 'RATE_LIMITED', 'DAILY_LIMIT']);

    // nor does one that only probes: every request that reaches the lookup counts, 409s included
    const prober = await signUp(db);
    for (let i = 0; i < OTP_POLICY.phone.lookups.limit; i++) expect(same(await send(prober, registered))).toEqual([409, 'CONFLICT', 'PHONE_TAKEN']);
    const a = await send(prober, registered);
    const b = await send(prober, newPhone());
    expect(same(a)).toEqual([429, 'RATE_LIMITED', 'DAILY_LIMIT']);
    expect(same(b)).toEqual(same(a));
    expect(Number(a.headers.get('Retry-After'))).toBeGreaterThan(23 * 3600);
    expect(sms).toHaveLength(3); // the spent account's own three codes, nothing since
  });

  it('wrong code: 400 with remainingAttempts; then 429 after 3 verify calls in the hour', async () => {
    const u = await signUp(db);
    await send(u, newPhone());
    const code = smsCode();
    const w = await verify(u, wrong(code));
    expect(w.status).toBe(400);
    expect(w.body.error.details).toEqual({ reason: 'OTP_INVALID', remainingAttempts: 4 });
    await verify(u, wrong(code));
    await verify(u, wrong(code));
    const limited = await verify(u, code);
    expect(limited.status).toBe(429);
    expect(limited.body.error.details.reason).toBe('VERIFY_LIMIT');
    expect(Number(limited.headers.get('Retry-After'))).toBeGreaterThan(3500);
  });
});

describe('POST /credits/send-voice-otp + /verify-voice-otp', () => {
  it('calls through Twilio reading the digits; 5 wrong codes kill it and log otp.locked', async () => {
    const u = await signUp(db);
    const phone = newPhone();
    const r = await sendVoice(u, phone);
    expect(r.status).toBe(200);
    expect(r.body.data.channel).toBe('voice');
    expect(voice[0]!.to).toBe(phone);
    expect(voice[0]!.twiml).toMatch(/^<Response><Say>Your FairArena verification code is: \d, \d, \d, \d, \d, \d\. Again/);
    const code = voiceCode();
    expect((await verify(u, code, '/verify-otp')).body.error.details.reason).toBe('OTP_EXPIRED'); // not the SMS channel
    for (let i = 0; i < 4; i++) expect((await verify(u, wrong(code), '/verify-voice-otp')).status).toBe(400);
    const killed = await verify(u, wrong(code), '/verify-voice-otp');
    expect(killed.body.error.details.reason).toBe('OTP_ATTEMPTS_EXHAUSTED');
    expect((await verify(u, code, '/verify-voice-otp')).body.error.details.reason).toBe('OTP_EXPIRED');
    expect((await actions(u.id)).map((a) => a.action)).toContain('otp.locked');
  });

  it('the right code verifies', async () => {
    const u = await signUp(db);
    const phone = newPhone();
    await sendVoice(u, phone);
    const ok = await verify(u, voiceCode(), '/verify-voice-otp');
    expect(ok.status).toBe(200);
    expect((await userRow(u.id)).phone_number).toBe(phone);
  });
});

describe('one number, several accounts', () => {
  it("an attacker's send never blocks the victim: both get codes, the first to verify owns the number", async () => {
    const attacker = await signUp(db);
    const victim = await signUp(db);
    const phone = newPhone();
    expect((await send(attacker, phone)).status).toBe(200);
    const attackerCode = smsCode();
    const r = await send(victim, phone);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ phoneNumber: phone, sendsRemaining: 2 });
    const victimCode = smsCode();
    expect(sms.map((m) => m.to)).toEqual([phone, phone]);

    const ok = await verify(victim, victimCode);
    expect(ok.status).toBe(200);
    expect((await userRow(victim.id)).phone_number).toBe(phone);

    // the attacker's code is still valid in their own object, but the number is taken
    const late = await verify(attacker, attackerCode);
    expect(late.status).toBe(409);
    expect(late.body.error.details.reason).toBe('PHONE_TAKEN');
    expect(await userRow(attacker.id)).toEqual({ phone_number: null, phone_verified_at: null });
    // and a verified number is refused at send time
    const again = await send(await signUp(db), phone);
    expect(again.status).toBe(409);
    expect(again.body.error.details.reason).toBe('PHONE_TAKEN');
  });

  it('two accounts verifying the same number at once: exactly one gets it, the other 409', async () => {
    const a = await signUp(db);
    const b = await signUp(db);
    const phone = newPhone();
    expect((await send(a, phone)).status).toBe(200);
    const codeA = smsCode();
    expect((await send(b, phone)).status).toBe(200);
    const codeB = smsCode();
    const results = await Promise.all([verify(a, codeA), verify(b, codeB)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.error.details.reason).toBe('PHONE_TAKEN');
    const owners = (await db.sql<{ id: string }>(`select id from users where phone_number = $1 and phone_verified_at is not null`, [phone])).rows;
    expect(owners).toHaveLength(1);
    expect(owners[0]!.id).toBe(results[0]!.status === 200 ? a.id : b.id);
  });

  it('an attacker spending their whole quota on the victim number changes nothing for the victim', async () => {
    const attacker = await signUp(db);
    const target = newPhone();
    const state = userState(db.env, attacker.id);
    const start = Date.now() - 60 * MIN;
    for (let i = 0; i < 3; i++) {
      expect((await state.sendPhoneOtp({ userId: attacker.id, channel: 'sms', phone: target, delivery: twilioDelivery }, start + i * 5 * MIN)).ok).toBe(true);
    }
    const r = await send(attacker, target);
    expect(r.status).toBe(429);
    expect(r.body.error.details.reason).toBe('DAILY_LIMIT');
    const victim = await signUp(db);
    expect((await send(victim, target)).status).toBe(200);
    expect((await verify(victim, smsCode())).status).toBe(200);
  });

  it('concurrent requests by one account: one code, one provider call', async () => {
    const u = await signUp(db);
    const phone = newPhone();
    const results = await Promise.all(Array.from({ length: 5 }, () => send(u, phone)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 429)).toHaveLength(4);
    expect(sms).toHaveLength(1);
  });
});

/** db.env, with the deployment-wide send counter moved to a fresh object (so a low cap here never depends on other tests' sends). */
function withOwnSendCounter(extra: Record<string, unknown> = {}, counter: unknown = undefined): Env {
  const real = db.env.USER_STATE;
  const name = `${PHONE_SENDS_OBJECT}:${crypto.randomUUID()}`;
  const ns = {
    idFromName: (n: string) => real.idFromName(n === PHONE_SENDS_OBJECT ? name : n),
    get: (id: DurableObjectId) => (counter && id.equals(real.idFromName(name)) ? counter : real.get(id)),
  };
  return { ...db.env, USER_STATE: ns, ...extra } as unknown as Env;
}

describe('SMS pumping: caps per number across accounts, and a deployment-wide hourly cap', () => {
  it('a 4th code to one number within the hour → 429 NUMBER_LIMIT with Retry-After, whichever accounts and channels asked', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const phone = newPhone();
    expect((await send(await signUp(db), phone)).status).toBe(200);
    expect((await sendVoice(await signUp(db), phone)).status).toBe(200);
    expect((await send(await signUp(db), phone)).status).toBe(200);
    const fresh = await signUp(db); // its own quota is untouched: the number is what is capped
    for (const r of [await send(fresh, phone), await sendVoice(fresh, phone)]) {
      expect(r.status).toBe(429);
      expect(r.body.error.code).toBe('RATE_LIMITED');
      expect(r.body.error.details.reason).toBe('NUMBER_LIMIT');
      const retryAfter = Number(r.headers.get('Retry-After'));
      expect(retryAfter).toBeGreaterThan(3500);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      expect(r.body.error.details.retryAfter).toBe(retryAfter);
    }
    expect(sms.filter((m) => m.to === phone)).toHaveLength(2);
    expect(voice.filter((c) => c.to === phone)).toHaveLength(1);
    // another number is not affected, and the refused account can still use its own quota
    const other = await send(fresh, newPhone());
    expect(other.status).toBe(200);
    expect(other.body.data.sendsRemaining).toBe(2);
  });

  it('10 codes to one number in a day → 429 until the day window ends (earlier sends made at an earlier clock)', async () => {
    const phone = newPhone();
    const number = phoneNumberState(db.env, phone);
    const start = Date.now() - 11 * 60 * MIN;
    // one code every 61 minutes: the hourly cap never bites, the daily one does
    for (let i = 0; i < 10; i++) expect((await number.hitAll(NUMBER_LIMITS, start + i * 61 * MIN)).allowed).toBe(true);
    const r = await send(await signUp(db), phone);
    expect(r.status).toBe(429);
    expect(r.body.error.details.reason).toBe('NUMBER_LIMIT');
    const retryAfter = Number(r.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(13 * 3600 - 120);
    expect(retryAfter).toBeLessThanOrEqual(13 * 3600);
    expect(sms).toHaveLength(0);
  });

  it("refusals of the caller's own limits and failed deliveries give the number's units back", async () => {
    const phone = newPhone();
    const a = await signUp(db);
    expect((await send(a, phone)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await send(a, phone)).body.error.details.reason).toBe('COOLDOWN');
    twilio.on(MESSAGES, () => Response.json({ code: 20003, message: 'Authenticate', status: 401 }, { status: 401 }));
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect((await send(await signUp(db), phone)).status).toBe(503);
    twilio.on(MESSAGES, () => Response.json({ sid: 'SM1', status: 'queued' }, { status: 201 }));
    expect((await send(await signUp(db), phone)).status).toBe(200);
    expect((await send(await signUp(db), phone)).status).toBe(200);
    expect((await send(await signUp(db), phone)).body.error.details.reason).toBe('NUMBER_LIMIT');
  });

  it('the deployment-wide hourly cap (PHONE_OTP_GLOBAL_HOURLY_CAP): the next send → 503 SEND_CAPACITY with Retry-After, logged, nothing sent', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
    const env = withOwnSendCounter({ PHONE_OTP_GLOBAL_HOURLY_CAP: '2' });
    expect((await send(await signUp(db), newPhone(), env)).status).toBe(200);
    expect((await api(env, '/send-voice-otp', (await signUp(db)).token, { phoneNumber: newPhone() })).status).toBe(200);
    const capped = newPhone();
    const u = await signUp(db);
    const r = await send(u, capped, env);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.body.error.details.reason).toBe('SEND_CAPACITY');
    const retryAfter = Number(r.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(sms).toHaveLength(1);
    expect(voice).toHaveLength(1);
    expect(errors.some((l) => l.includes('phone_otp.global_cap_reached'))).toBe(true);
    // the refusal consumed nothing of the number's caps nor of the account's quota
    const raised = await send(u, capped, { ...env, PHONE_OTP_GLOBAL_HOURLY_CAP: '3' } as Env);
    expect(raised.status).toBe(200);
    expect(raised.body.data.sendsRemaining).toBe(2);
    expect((await send(await signUp(db), capped)).status).toBe(200);
  });

  it('the global counter unreachable: 503, fail closed, nothing sent', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const broken = new Proxy({}, { get: () => () => Promise.reject(new Error('Network connection lost')) });
    const env = withOwnSendCounter({}, broken);
    const r = await send(await signUp(db), newPhone(), env);
    expect(r.status).toBe(503);
    expect(r.headers.get('Retry-After')).toBe('5');
    expect(sms).toHaveLength(0);
  });

  it('PHONE_OTP_ALLOWED_COUNTRIES: a number of another country → 400 COUNTRY_NOT_ALLOWED, nothing sent', async () => {
    const u = await signUp(db);
    const usOnly = { ...db.env, PHONE_OTP_ALLOWED_COUNTRIES: 'us' } as Env;
    const r = await send(u, newPhone(), usOnly);
    expect(r.status).toBe(400);
    expect(r.body.error.details).toMatchObject({ reason: 'COUNTRY_NOT_ALLOWED', allowed: ['US'] });
    expect(sms).toHaveLength(0);
    expect((await send(u, newPhone(), { ...db.env, PHONE_OTP_ALLOWED_COUNTRIES: 'US,IN' } as Env)).status).toBe(200);
    const bad = await send(u, newPhone(), { ...db.env, PHONE_OTP_ALLOWED_COUNTRIES: 'India' } as Env);
    expect(bad.status).toBe(500); // a bad value is a configuration error, never "every country"
  });
});

describe('failure modes', () => {
  it('provider refuses: 503, no quota spent', async () => {
    twilio.on(MESSAGES, () => Response.json({ code: 20003, message: 'Authenticate', status: 401 }, { status: 401 }));
    const u = await signUp(db);
    const phone = newPhone();
    const r = await send(u, phone);
    expect(r.status).toBe(503);
    expect(r.body.error.details.reason).toBe('DELIVERY_FAILED');
    twilio.on(MESSAGES, () => Response.json({ sid: 'SM1' }, { status: 201 }));
    const retry = await send(u, phone);
    expect(retry.status).toBe(200);
    expect(retry.body.data.sendsRemaining).toBe(2);
  });

  it('provider hangs past its timeout: 503 DELIVERY_UNCONFIRMED; the send, the cooldown and the caps stay counted, the code still verifies', { timeout: 60_000 }, async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    let sent = '';
    twilio.on(MESSAGES, async (req) => {
      const body = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer())).get('Body')!;
      sent = /\b(\d{6})\b/.exec(body)![1]!; // Twilio took the message; its answer never comes
      codes.add(sent);
      return hang(req);
    });
    const env = withOwnSendCounter({ PHONE_OTP_GLOBAL_HOURLY_CAP: '1' });
    const u = await signUp(db);
    const phone = newPhone();
    const r = await send(u, phone, env);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.body.error.details.reason).toBe('DELIVERY_UNCONFIRMED');
    expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(100);
    twilio.on(MESSAGES, () => Response.json({ sid: 'SM1' }, { status: 201 }));
    // the account's cooldown and quota, the number's caps and the deployment's total all kept the unit
    const again = await send(u, phone);
    expect([again.status, again.body.error.details.reason]).toEqual([429, 'COOLDOWN']);
    expect(await phoneNumberState(db.env, phone).peek(NUMBER_LIMITS[0]!.key, NUMBER_LIMITS[0]!.spec)).toMatchObject({ remaining: NUMBER_LIMITS[0]!.spec.limit - 1 });
    const other = await send(await signUp(db), newPhone(), env);
    expect(other.body.error?.details.reason).toBe('SEND_CAPACITY');
    // the code that reached the phone still works
    const ok = await verify(u, sent);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ phoneVerified: true, phoneNumber: phone });
  });

  it('the database hanging when a verified code is recorded: 503, and the same code verifies once it is back', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const u = await signUp(db);
    const phone = newPhone();
    expect((await send(u, phone)).status).toBe(200);
    const code = smsCode();
    const down = await verify(u, code, '/verify-otp', withDatabaseHanging(db));
    expect([down.status, down.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    expect((await userRow(u.id)).phone_verified_at).toBeNull();
    const ok = await verify(u, code);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ phoneVerified: true, phoneNumber: phone });
    expect((await verify(u, code)).body.error.details.reason).toBe('OTP_EXPIRED'); // used once the write committed
  });

  it('the UserState object unreachable: 503 (fail closed), no provider call', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const broken = {
      idFromName: (name: string) => ({ name }),
      get: () =>
        new Proxy(
          {},
          {
            get: () => () => Promise.reject(new Error('Durable Object reset because its code was updated')),
          },
        ),
    };
    const env = { ...db.env, USER_STATE: broken } as unknown as Env;
    const u = await signUp(db);
    const phone = newPhone();
    for (const r of [await send(u, phone, env), await verify(u, '123456', '/verify-otp', env), await api(env, '/claim', u.token)]) {
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(r.headers.get('Retry-After')).toBe('5');
    }
    expect(sms).toHaveLength(0);
  });

  it('the UserState object never answers: 503 (fail closed) once the deadline passes, no provider call', { timeout: 60_000 }, async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void errors.push(String(line)));
    const silent = {
      idFromName: (name: string) => ({ name }),
      get: () => new Proxy({}, { get: () => () => new Promise(() => {}) }),
    };
    const env = { ...db.env, USER_STATE: silent } as unknown as Env;
    const started = Date.now();
    const r = await send(await signUp(db), newPhone(), env);
    const ms = Date.now() - started;
    expect([r.status, r.body.error.code, r.headers.get('Retry-After')]).toEqual([503, 'SERVICE_UNAVAILABLE', '5']);
    expect(ms).toBeGreaterThanOrEqual(USER_STATE_DEADLINE_MS - 100);
    expect(ms).toBeLessThan(USER_STATE_DEADLINE_MS + 5000);
    expect(errors.some((l) => l.includes('user_state.unavailable') && l.includes('TimeoutError'))).toBe(true);
    expect(sms).toHaveLength(0);
  });

  it('disposable-number check: blocks disposable numbers, fails open when the validator is down', async () => {
    const env = { ...db.env, CREDENTIAL_VALIDATOR_URL: 'https://validator.example.test' } as Env;
    const seen: string[] = [];
    twilio.on('GET https://validator.example.test/check-phone', (req) => {
      const phone = new URL(req.url).searchParams.get('phone')!;
      seen.push(phone);
      return Response.json({ tempphone: phone.endsWith('0') });
    });
    const u = await signUp(db);
    const disposable = `${newPhone().slice(0, -1)}0`;
    const blocked = await send(u, disposable, env);
    expect(blocked.status).toBe(400);
    expect(blocked.body.error.details.reason).toBe('DISPOSABLE_PHONE');
    expect(seen).toEqual([disposable.slice(1)]);
    twilio.on('GET https://validator.example.test/check-phone', () => new Response('upstream down', { status: 502 }));
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect((await send(u, disposable, env)).status).toBe(200);
  });
});

describe('development: the dev SMS provider', () => {
  it('writes the SMS to the dev mailbox, where a developer reads the code', async () => {
    const env = { ...db.env, SMS_PROVIDER: 'dev' } as Env;
    const u = await signUp(db);
    const phone = newPhone();
    expect((await send(u, phone, env)).status).toBe(200);
    expect(sms).toHaveLength(0);
    const [row] = (await db.sql<{ subject: string; text: string; tags: { template: string } }>(`select subject, text, tags from dev_emails where "to" = $1`, [phone])).rows;
    expect(row!.subject).toBe(`SMS to ${phone}`);
    expect(row!.tags.template).toBe('sms-otp');
    const code = /\b(\d{6})\b/.exec(row!.text)![1]!;
    codes.add(code);
    expect((await verify(u, code, '/verify-otp', env)).status).toBe(200);
  });
});

describe('the plaintext code', () => {
  it('never appears in an event, dead letter, activity row, log line or HTTP answer', async () => {
    const logged: string[] = [];
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')));
    }
    // one more full flow with logs captured, plus a failed delivery (which logs)
    const u = await signUp(db);
    await send(u, newPhone());
    await verify(u, wrong(smsCode()));
    await verify(u, smsCode());
    twilio.on(MESSAGES, async (req) => {
      const body = new URLSearchParams(new TextDecoder().decode(await req.arrayBuffer())).get('Body')!;
      codes.add(/\b(\d{6})\b/.exec(body)![1]!);
      return Response.json({ code: 21610, message: `Attempt to send to unsubscribed recipient: ${body}` }, { status: 400 });
    });
    await send(await signUp(db), newPhone());
    await db.events.drain();

    expect(codes.size).toBeGreaterThan(5);
    const outbox = (await db.sql<{ t: string }>(`select payload::text || coalesce(last_error, '') as t from outbox`)).rows.map((r) => r.t).join('\n');
    const dead = (await db.sql<{ t: string }>(`select payload::text || error as t from dead_letters`)).rows.map((r) => r.t).join('\n');
    const activity = (await db.sql<{ t: string }>(`select action || coalesce(metadata::text, '') as t from activity_logs`)).rows.map((r) => r.t).join('\n');
    const mail = (await db.sql<{ t: string }>(`select subject || coalesce(text, '') as t from dev_emails where tags->>'template' not in ('sms-otp', 'voice-otp')`)).rows
      .map((r) => r.t)
      .join('\n');
    const everything = { outbox, dead, activity, mail, logs: logged.join('\n'), responses: responses.join('\n') };
    for (const code of codes) {
      const standalone = new RegExp(`(?<![0-9A-Za-z])${code}(?![0-9A-Za-z])`);
      for (const [where, text] of Object.entries(everything)) expect(standalone.test(text), `${code} found in ${where}`).toBe(false);
    }
    expect(logged.join('\n')).toContain('otp.delivery_failed');
  });
});
