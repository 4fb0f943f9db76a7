import { DurableObject } from 'cloudflare:workers';
import { loadConfig, type Env } from '../config';
import { deliverEmail, otpSmsText, otpVoiceText, smsProviderFor, type EmailDelivery, type OtpEmail, type PhoneDelivery } from './otp-delivery';
import { hmacSha256Hex, timingSafeEqual } from '../lib/crypto';
import { isProviderRefusal } from '../lib/http';
import { log } from '../lib/log';
import {
  alphanumericCode,
  CLAIM_POLICY,
  expiryOf,
  KEY,
  MINUTE,
  numericCode,
  OTP_PLACEHOLDER,
  OTP_POLICY,
  redact,
  type ActiveOtp,
  type ClaimStart,
  type Counter,
  type NamedLimit,
  type OtpPurpose,
  type PhoneChannel,
  type SendCheck,
  type SendResult,
  type StrictLimit,
  type StrictLimitResult,
  type VerifyResult,
} from './user-state-policies';

// Services import the policies and result types from here, next to the stub accessors they go with.
export {
  CLAIM_POLICY,
  EXPORT_POLICY,
  OTP_PLACEHOLDER,
  OTP_POLICY,
  PHONE_NUMBER_CAPS,
  STEP_UP_ALPHABET,
} from './user-state-policies';
export type {
  ClaimStart,
  NamedLimit,
  OtpPurpose,
  PhoneChannel,
  SendCheck,
  SendRefusal,
  SendResult,
  StrictLimit,
  StrictLimitResult,
  VerifyResult,
} from './user-state-policies';

/**
 * One object per user (idFromName(userId)), SQLite-backed. It is the single writer of that user's
 * strict state, so limits hold under concurrent requests. All state changes use the synchronous KV
 * API: no await between a check and its write, so two calls can never interleave there.
 *
 * It owns all OTP state (phone SMS/voice codes, step-up email codes): it generates the code, keeps only
 * its HMAC, and hands the plaintext to the provider in the same call — the code never leaves this object.
 * Each await (HMAC, the provider) sits outside the synchronous check-and-write blocks, and a delivery the
 * provider refused rolls its own quota back (one that may have gone out keeps it).
 *
 * A phone number is never held against other users: codes for one number may be out to several
 * accounts at once, and the database decides at verify time (unique index on verified numbers — the
 * first to verify wins). Every time-dependent method takes `now` (ms) so tests control the clock.
 *
 * The same class also backs two shared counters through its strict-limit methods only: one object per
 * phone number (`phoneNumberState`, caps across all accounts) and one for the deployment's hourly
 * phone-code total (`phoneSendsState`). Those objects never hold OTP state.
 */
export class UserState extends DurableObject<Env> {
  private get kv() {
    return this.ctx.storage.kv;
  }

  // ───────────────────────────── strict limits ─────────────────────────────

  /** Count one hit against `key`; refuses once `limit` is reached until the window resets. */
  hit(key: string, spec: StrictLimit, now: number = Date.now()): StrictLimitResult {
    const storageKey = `limit:${key}`;
    const current = this.kv.get<Counter>(storageKey);
    const counter = current && current.resetAt > now ? current : { count: 0, resetAt: now + spec.windowMs };
    if (counter.count >= spec.limit) {
      return { allowed: false, remaining: 0, retryAfterMs: counter.resetAt - now };
    }
    counter.count += 1;
    this.kv.put(storageKey, counter);
    this.scheduleCleanup(counter.resetAt);
    return { allowed: true, remaining: spec.limit - counter.count, retryAfterMs: 0 };
  }

  /**
   * Count one hit against every limit, or against none: refused (with the longest wait among the
   * exhausted ones) as soon as one of them is exhausted. `remaining` is the smallest left.
   */
  hitAll(limits: NamedLimit[], now: number = Date.now()): StrictLimitResult {
    const states = limits.map((l) => ({ ...l, state: this.peek(l.key, l.spec, now) }));
    const refused = states.filter((s) => !s.state.allowed);
    if (refused.length) return { allowed: false, remaining: 0, retryAfterMs: Math.max(...refused.map((s) => s.state.retryAfterMs)) };
    const hits = limits.map((l) => this.hit(l.key, l.spec, now));
    return { allowed: true, remaining: Math.min(...hits.map((h) => h.remaining)), retryAfterMs: 0 };
  }

  /** Give back one hit on each key (the action they guarded did not happen). */
  refundAll(keys: string[], now: number = Date.now()): void {
    for (const key of keys) this.refund(key, now);
  }

  /** Current state of a limit without counting a hit. */
  peek(key: string, spec: StrictLimit, now: number = Date.now()): StrictLimitResult {
    const current = this.kv.get<Counter>(`limit:${key}`);
    if (!current || current.resetAt <= now) return { allowed: true, remaining: spec.limit, retryAfterMs: 0 };
    const remaining = Math.max(0, spec.limit - current.count);
    return { allowed: remaining > 0, remaining, retryAfterMs: remaining > 0 ? 0 : current.resetAt - now };
  }

  /** Give back one hit (the action it guarded did not happen). */
  refund(key: string, now: number = Date.now()): void {
    const storageKey = `limit:${key}`;
    const current = this.kv.get<Counter>(storageKey);
    if (!current || current.resetAt <= now || current.count <= 0) return;
    current.count -= 1;
    this.kv.put(storageKey, current);
  }

  // ───────────────────────────── phone OTP ─────────────────────────────

  /**
   * Issue a phone code and deliver it by SMS or voice. Order: this user's own limits (daily quota, then
   * cooldown) are checked and consumed, the hash is stored (replacing any previous phone code) — all in
   * one synchronous block — then the provider is called. A delivery the provider refused deletes the code
   * and gives the quota back; one that may have gone out (timeout, network, 5xx) keeps both. Nothing here
   * touches any other user: the number is not reserved.
   */
  async sendPhoneOtp(req: { userId: string; channel: PhoneChannel; phone: string; delivery: PhoneDelivery }, now: number = Date.now()): Promise<SendResult> {
    const policy = OTP_POLICY.phone;
    const code = numericCode();
    const hash = await this.hashCode('phone', req.userId, code);
    const provider = smsProviderFor(this.allowedDelivery(req.delivery));

    // ── synchronous: check and consume this user's quota, store the code's hash ──
    this.assertOwner(req.userId);
    const refused = this.sendRefusal('phone', policy.sends, now);
    if (refused) return refused;
    const sends = this.hit(KEY.sends('phone'), policy.sends, now);
    this.putUntil(KEY.cooldown('phone'), now + policy.cooldownMs);
    const expiresAt = now + policy.ttlMs;
    const nonce = crypto.randomUUID();
    this.putOtp('phone', { hash, expiresAt, wrongTries: 0, nonce, channel: req.channel, phone: req.phone });

    // ── deliver: the plaintext goes to the provider and nowhere else ──
    try {
      if (req.channel === 'sms') await provider.sendSms(req.phone, otpSmsText(code, policy.ttlMs / MINUTE));
      else await provider.call(req.phone, otpVoiceText(code));
    } catch (err) {
      return this.deliveryFailed('phone', req.channel, err, code, nonce, now);
    }
    return { ok: true, expiresAt, sendsRemaining: sends.remaining, resendAfterMs: policy.cooldownMs };
  }

  /**
   * Before anything about the number is revealed: refused while this user's sends are locked, spent or
   * cooling down, and otherwise counted against the lookup budget (OTP_POLICY.phone.lookups). Consumes no
   * send; `sendPhoneOtp` checks and consumes those itself.
   */
  checkPhoneSend(req: { userId: string }, now: number = Date.now()): SendCheck {
    const policy = OTP_POLICY.phone;
    this.assertOwner(req.userId);
    const refused = this.sendRefusal('phone', policy.sends, now);
    if (refused) return refused;
    const lookups = this.hit(KEY.phoneLookups, policy.lookups, now);
    if (!lookups.allowed) return { ok: false, reason: 'limit', retryAfterMs: lookups.retryAfterMs };
    return { ok: true };
  }

  /**
   * Check a phone code. SMS verify calls are counted (3/h) before anything else. A code only verifies on
   * the channel it was sent on; 5 wrong tries kill it. Success consumes it and returns the number, which
   * the caller then claims in the database (where a number already verified by another account → 409);
   * if that write fails, the caller puts the code back with `restoreOtp`.
   */
  async verifyPhoneOtp(req: { userId: string; channel: PhoneChannel; code: string }, now: number = Date.now()): Promise<VerifyResult> {
    const policy = OTP_POLICY.phone;
    const candidate = await this.hashCode('phone', req.userId, req.code);

    // ── synchronous: count, compare, update ──
    this.assertOwner(req.userId);
    if (req.channel === 'sms') {
      const calls = this.hit(KEY.smsVerify, policy.smsVerifyCalls, now);
      if (!calls.allowed) return { ok: false, reason: 'rate_limited', retryAfterMs: calls.retryAfterMs };
    }
    const otp = this.kv.get<ActiveOtp>(KEY.otp('phone'));
    if (!otp || otp.expiresAt <= now) {
      if (otp) this.kv.delete(KEY.otp('phone'));
      return { ok: false, reason: 'no_code' };
    }
    if (otp.channel !== req.channel) return { ok: false, reason: 'no_code' };
    if (!timingSafeEqual(otp.hash, candidate)) {
      otp.wrongTries += 1;
      if (otp.wrongTries >= policy.maxWrongTries) {
        this.kv.delete(KEY.otp('phone'));
        return { ok: false, reason: 'killed', phone: otp.phone };
      }
      this.kv.put(KEY.otp('phone'), otp);
      return { ok: false, reason: 'invalid', remainingAttempts: policy.maxWrongTries - otp.wrongTries };
    }
    this.spendOtp('phone', otp);
    this.kv.delete(`limit:${KEY.smsVerify}`);
    return { ok: true, phone: otp.phone };
  }

  // ───────────────────────────── step-up (email) OTP ─────────────────────────────

  /**
   * Issue an 8-character step-up code and email it. `email` is the rendered message with
   * OTP_PLACEHOLDER where the code goes; the substitution happens here, right before sending.
   */
  async sendStepUpOtp(req: { userId: string; email: OtpEmail; delivery: EmailDelivery }, now: number = Date.now()): Promise<SendResult> {
    const policy = OTP_POLICY.stepUp;
    const code = alphanumericCode(8);
    const hash = await this.hashCode('stepup', req.userId, code);
    const delivery = this.allowedDelivery(req.delivery);

    this.assertOwner(req.userId);
    const refused = this.sendRefusal('stepup', policy.sends, now);
    if (refused) return refused;
    const sends = this.hit(KEY.sends('stepup'), policy.sends, now);
    this.putUntil(KEY.cooldown('stepup'), now + policy.cooldownMs);
    const expiresAt = now + policy.ttlMs;
    const nonce = crypto.randomUUID();
    this.putOtp('stepup', { hash, expiresAt, wrongTries: 0, nonce, channel: 'email' });

    try {
      const fill = (s: string) => s.replaceAll(OTP_PLACEHOLDER, code);
      const mail = { ...req.email, subject: fill(req.email.subject), html: fill(req.email.html), text: fill(req.email.text) };
      await deliverEmail(delivery, mail, `stepup-otp:${nonce}`);
    } catch (err) {
      return this.deliveryFailed('stepup', 'email', err, code, nonce, now);
    }
    return { ok: true, expiresAt, sendsRemaining: sends.remaining, resendAfterMs: policy.cooldownMs };
  }

  /**
   * Check a step-up code (case-insensitive). Wrong tries count per user over 30 minutes; the 5th locks
   * verification (and sending) for 30 minutes and kills the code. Success consumes the code and clears
   * the failure count.
   */
  async verifyStepUpOtp(req: { userId: string; code: string }, now: number = Date.now()): Promise<VerifyResult> {
    const policy = OTP_POLICY.stepUp;
    const candidate = await this.hashCode('stepup', req.userId, req.code);

    this.assertOwner(req.userId);
    const lockedUntil = this.getUntil(KEY.lockout('stepup'), now);
    if (lockedUntil) return { ok: false, reason: 'locked', retryAfterMs: lockedUntil - now };
    const otp = this.kv.get<ActiveOtp>(KEY.otp('stepup'));
    if (!otp || otp.expiresAt <= now) {
      if (otp) this.kv.delete(KEY.otp('stepup'));
      return { ok: false, reason: 'no_code' };
    }
    if (!timingSafeEqual(otp.hash, candidate)) {
      const failures = this.hit(KEY.stepUpFailures, policy.failures, now);
      if (!failures.allowed || failures.remaining === 0) {
        this.kv.delete(KEY.otp('stepup'));
        this.kv.delete(`limit:${KEY.stepUpFailures}`);
        this.putUntil(KEY.lockout('stepup'), now + policy.lockoutMs);
        return { ok: false, reason: 'locked', retryAfterMs: policy.lockoutMs, justLocked: true };
      }
      otp.wrongTries += 1;
      this.kv.put(KEY.otp('stepup'), otp);
      return { ok: false, reason: 'invalid', remainingAttempts: failures.remaining };
    }
    this.spendOtp('stepup', otp);
    this.kv.delete(`limit:${KEY.stepUpFailures}`);
    return { ok: true };
  }

  /**
   * Put back a code that verified but whose effect was not recorded (the caller's database write failed),
   * so the user can try again with the same code. Only with that very code, only while it has not expired,
   * and never over a newer code. Its wrong-try count comes back with it. Returns whether it was restored.
   */
  async restoreOtp(req: { userId: string; purpose: OtpPurpose; code: string }, now: number = Date.now()): Promise<boolean> {
    const candidate = await this.hashCode(req.purpose, req.userId, req.code);

    this.assertOwner(req.userId);
    const spent = this.kv.get<ActiveOtp>(KEY.spentOtp(req.purpose));
    if (!spent || spent.expiresAt <= now || !timingSafeEqual(spent.hash, candidate)) return false;
    this.kv.delete(KEY.spentOtp(req.purpose));
    if (this.kv.get<ActiveOtp>(KEY.otp(req.purpose))) return false;
    this.putOtp(req.purpose, spent);
    return true;
  }

  // ───────────────────────────── free-credit claim ─────────────────────────────

  /** Start a claim: one in flight at a time (others → in_progress), 3 attempts per 24 h. */
  beginClaim(now: number = Date.now()): ClaimStart {
    const inflight = this.getUntil(KEY.claimInflight, now);
    if (inflight) return { ok: false, reason: 'in_progress', retryAfterMs: inflight - now };
    const attempt = this.hit(KEY.claim, CLAIM_POLICY.attempts, now);
    if (!attempt.allowed) return { ok: false, reason: 'limit', retryAfterMs: attempt.retryAfterMs };
    this.putUntil(KEY.claimInflight, now + CLAIM_POLICY.inflightMs);
    return { ok: true, attemptsRemaining: attempt.remaining };
  }

  /** End the claim in flight; `refund` gives the attempt back (the account had already claimed). */
  endClaim(options: { refund?: boolean } = {}, now: number = Date.now()): void {
    this.kv.delete(KEY.claimInflight);
    if (options.refund) this.refund(KEY.claim, now);
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** A step-up code is typed by hand from an email: spaces around it and its case do not matter. */
  private async hashCode(purpose: OtpPurpose, userId: string, code: string): Promise<string> {
    const typed = purpose === 'stepup' ? code.trim().toUpperCase() : code;
    return hmacSha256Hex(this.otpSecret(), `${purpose}:${userId}:${typed}`);
  }

  private otpSecret(): string {
    const config = loadConfig(this.env);
    if (config.OTP_HMAC_SECRET) return config.OTP_HMAC_SECRET;
    // Required in staging/production by the config schema; a fixed stand-in on dev machines only.
    if (config.ENVIRONMENT === 'development' || config.ENVIRONMENT === 'test') return 'fairarena-development-only-otp-hmac-secret';
    throw new Error('OTP_HMAC_SECRET is not configured');
  }

  /** The dev mailbox holds plaintext codes: refused outright when this worker runs in staging/production. */
  private allowedDelivery<D extends PhoneDelivery | EmailDelivery>(delivery: D): D {
    const env = loadConfig(this.env).ENVIRONMENT;
    if (delivery.kind === 'dev-mailbox' && (env === 'production' || env === 'staging')) throw new Error(`dev-mailbox delivery refused in ${env}`);
    return delivery;
  }

  /** The object serves exactly one user: a call for another user id is a programming error. */
  private assertOwner(userId: string): void {
    const owner = this.kv.get<string>(KEY.owner);
    if (owner === undefined) this.kv.put(KEY.owner, userId);
    else if (owner !== userId) throw new Error('UserState called for a different user');
  }

  private sendRefusal(purpose: OtpPurpose, sends: StrictLimit, now: number): (SendResult & { ok: false }) | null {
    const locked = this.getUntil(KEY.lockout(purpose), now);
    if (locked) return { ok: false, reason: 'locked', retryAfterMs: locked - now };
    const quota = this.peek(KEY.sends(purpose), sends, now);
    if (!quota.allowed) return { ok: false, reason: 'limit', retryAfterMs: quota.retryAfterMs };
    const cooldown = this.getUntil(KEY.cooldown(purpose), now);
    if (cooldown) return { ok: false, reason: 'cooldown', retryAfterMs: cooldown - now };
    return null;
  }

  /**
   * After a failed delivery. Only a provider's refusal proves the code did not go out: then the code is
   * deleted and the send given back. A timeout, a lost connection or a 5xx may still have delivered it, so
   * the code stays valid and the quota and cooldown stay spent — giving them back would let a slow provider
   * deliver codes that are never counted.
   */
  private deliveryFailed(purpose: OtpPurpose, channel: string, err: unknown, code: string, nonce: string, now: number): SendResult {
    const refused = isProviderRefusal(err);
    const name = err instanceof Error ? err.name : 'NonError';
    const message = redact(err instanceof Error ? err.message : String(err), code).slice(0, 300);
    log('warn', 'otp.delivery_failed', { purpose, channel, refused, error: { name, message } });
    if (!refused) {
      return { ok: false, reason: 'delivery_unconfirmed', retryAfterMs: (this.getUntil(KEY.cooldown(purpose), now) ?? now) - now };
    }
    const current = this.kv.get<ActiveOtp>(KEY.otp(purpose));
    if (current?.nonce === nonce) this.kv.delete(KEY.otp(purpose));
    this.refund(KEY.sends(purpose), now);
    this.kv.delete(KEY.cooldown(purpose));
    return { ok: false, reason: 'delivery_failed', retryAfterMs: 0 };
  }

  /** A verified code stops verifying at once; it is kept aside only for `restoreOtp`. */
  private spendOtp(purpose: OtpPurpose, otp: ActiveOtp): void {
    this.kv.delete(KEY.otp(purpose));
    this.kv.put(KEY.spentOtp(purpose), otp);
  }

  private putOtp(purpose: OtpPurpose, otp: ActiveOtp): void {
    this.kv.put(KEY.otp(purpose), otp);
    this.scheduleCleanup(otp.expiresAt);
  }

  private putUntil(key: string, until: number): void {
    this.kv.put(key, until);
    this.scheduleCleanup(until);
  }

  /** The stored deadline when it is still in the future, else null. */
  private getUntil(key: string, now: number): number | null {
    const until = this.kv.get<number>(key);
    return typeof until === 'number' && until > now ? until : null;
  }

  /** Expired state is removed by an alarm so idle objects hold no state. */
  private scheduleCleanup(at: number): void {
    void this.ctx.storage.getAlarm().then((existing) => {
      if (existing === null || existing > at) return this.ctx.storage.setAlarm(at);
    });
  }

  override alarm(): void {
    const now = Date.now();
    let next = Infinity;
    for (const [key, value] of this.kv.list<unknown>()) {
      const expiry = expiryOf(key, value);
      if (expiry === null) continue;
      if (expiry <= now) this.kv.delete(key);
      else next = Math.min(next, expiry);
    }
    if (next !== Infinity) void this.ctx.storage.setAlarm(next);
  }
}

/** The USER_STATE binding with its class (config.ts declares it untyped so it never imports this module). */
const namespace = (env: Env) => env.USER_STATE as DurableObjectNamespace<UserState>;

/** The stub for a user's state object. */
export function userState(env: Env, userId: string): DurableObjectStub<UserState> {
  return namespace(env).get(env.USER_STATE.idFromName(userId));
}

/**
 * The state object of one phone number (E.164), shared by every account that asks for a code for it.
 * Only the generic strict-limit methods are used on it. Clerk user ids never start with `phone:`.
 */
export function phoneNumberState(env: Env, e164: string): DurableObjectStub<UserState> {
  return namespace(env).get(env.USER_STATE.idFromName(`phone:${e164}`));
}

/** Name of the one object counting phone codes sent by the whole deployment (the global hourly cap). */
export const PHONE_SENDS_OBJECT = 'phone-sends:global';

export function phoneSendsState(env: Env): DurableObjectStub<UserState> {
  return namespace(env).get(env.USER_STATE.idFromName(PHONE_SENDS_OBJECT));
}

