/**
 * The pure half of the UserState object: its limits, the shapes its methods return, how it lays out its
 * storage and how it makes codes. Nothing here touches storage, config or the network, so services read
 * the policies (to show quotas, to check the same caps) without reaching into the object itself.
 */

export interface StrictLimit {
  /** Maximum hits per window. */
  limit: number;
  /** Window length in milliseconds (fixed window starting at the first hit). */
  windowMs: number;
}

/** One limit among several checked together (`hitAll`). */
export interface NamedLimit {
  key: string;
  spec: StrictLimit;
}

export interface StrictLimitResult {
  allowed: boolean;
  remaining: number;
  /** Milliseconds until the window resets (0 when allowed and the window is fresh). */
  retryAfterMs: number;
}

export interface Counter {
  count: number;
  resetAt: number;
}

export const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Every OTP limit: each code sent costs money and is a guess window, so these caps fail closed. */
export const OTP_POLICY = {
  phone: {
    ttlMs: 15 * MINUTE,
    cooldownMs: 120_000,
    /** SMS and voice together: one flow, one quota. */
    sends: { limit: 3, windowMs: DAY },
    /** Wrong tries that kill the code. */
    maxWrongTries: 5,
    /** Verify calls on the SMS channel, counted before the code is checked. */
    smsVerifyCalls: { limit: 3, windowMs: HOUR },
    /**
     * Send requests that get as far as looking the number up (sent or not): whether a number is verified
     * on another account is only answered within this budget, so it cannot be used to list who is registered.
     */
    lookups: { limit: 10, windowMs: DAY },
  },
  stepUp: {
    ttlMs: 10 * MINUTE,
    cooldownMs: 60_000,
    sends: { limit: 5, windowMs: 30 * MINUTE },
    /** Wrong tries (per user, 30-minute window) that lock verification for `lockoutMs`. */
    failures: { limit: 5, windowMs: 30 * MINUTE },
    lockoutMs: 30 * MINUTE,
  },
} as const;

/**
 * Phone codes per number, across every account (SMS and voice together): SMS pumping sends codes to
 * numbers the attacker is paid for, from as many accounts as it takes, so the per-account quota alone
 * does not bound the bill. Counted in the object addressed by the number (`phoneNumberState`).
 */
export const PHONE_NUMBER_CAPS = {
  hour: { limit: 3, windowMs: HOUR },
  day: { limit: 10, windowMs: DAY },
} as const satisfies Record<string, StrictLimit>;

/** Free-credit claims: 3 attempts per 24 h; one claim in flight at a time. */
export const CLAIM_POLICY = { attempts: { limit: 3, windowMs: DAY }, inflightMs: 30_000 } as const;
/** Data exports: one per 24 h. */
export const EXPORT_POLICY = { limit: 1, windowMs: DAY } as const satisfies StrictLimit;

/** Put this where the code goes in an emailed OTP: the DO substitutes it just before sending. */
export const OTP_PLACEHOLDER = '__FAIRARENA_OTP_CODE__';

export type PhoneChannel = 'sms' | 'voice';
export type OtpPurpose = 'phone' | 'stepup';

export interface ActiveOtp {
  /** HMAC-SHA256(OTP_HMAC_SECRET, purpose:userId:code), hex. The plaintext is never stored. */
  hash: string;
  expiresAt: number;
  wrongTries: number;
  /** Identifies this issuance (rollback of a failed delivery, idempotency key of the email). */
  nonce: string;
  channel: PhoneChannel | 'email';
  /** E.164, phone codes only. */
  phone?: string;
}

/** `delivery_failed`: the provider refused, nothing is spent. `delivery_unconfirmed`: the code may have gone out, it stays valid and counted. */
export type SendRefusal = 'cooldown' | 'limit' | 'locked' | 'delivery_failed' | 'delivery_unconfirmed';
export type SendResult =
  | { ok: true; expiresAt: number; sendsRemaining: number; resendAfterMs: number }
  | { ok: false; reason: SendRefusal; retryAfterMs: number };

/** Whether this user may ask for a phone code now (nothing else is consumed than one lookup). */
export type SendCheck = { ok: true } | { ok: false; reason: SendRefusal; retryAfterMs: number };

export type VerifyResult =
  | { ok: true; phone?: string }
  | { ok: false; reason: 'rate_limited' | 'locked'; retryAfterMs: number; justLocked?: boolean }
  | { ok: false; reason: 'no_code' }
  | { ok: false; reason: 'invalid'; remainingAttempts: number }
  | { ok: false; reason: 'killed'; phone?: string };

export type ClaimStart = { ok: true; attemptsRemaining: number } | { ok: false; reason: 'in_progress' | 'limit'; retryAfterMs: number };

/** Storage keys (counters go under `limit:<key>`); the prefix of a stored key is how `expiryOf` knows when it lapses. */
export const KEY = {
  otp: (p: OtpPurpose) => `otp:${p}`,
  /** The code last verified, kept until it expires so a failed write can put it back (`restoreOtp`). */
  spentOtp: (p: OtpPurpose) => `otp:${p}:spent`,
  cooldown: (p: OtpPurpose) => `until:cooldown:${p}`,
  lockout: (p: OtpPurpose) => `until:lockout:${p}`,
  sends: (p: OtpPurpose) => `otp:${p}:send`,
  smsVerify: 'otp:phone:verify-sms',
  phoneLookups: 'otp:phone:lookup',
  stepUpFailures: 'otp:stepup:failures',
  claim: 'claim',
  claimInflight: 'until:claim',
  export: 'export',
  owner: 'owner',
};

/** Uniform 6-digit code (rejection sampling: no modulo bias). */
export function numericCode(): string {
  const limit = 2 ** 32 - (2 ** 32 % 1_000_000);
  const buf = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(buf);
    if (buf[0]! < limit) return String(buf[0]! % 1_000_000).padStart(6, '0');
  }
}

/** 32 unambiguous characters (no 0/O, 1/I): one byte & 31 is uniform over them. */
export const STEP_UP_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export function alphanumericCode(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => STEP_UP_ALPHABET[b & 31]).join('');
}

/** Remove any trace of the code from an error message before it is logged. */
export function redact(message: string, code: string): string {
  return message.replaceAll(code, '[code]').replaceAll(code.split('').join(', '), '[code]');
}

/** When a stored entry stops mattering (null: kept). */
export function expiryOf(key: string, value: unknown): number | null {
  if (key.startsWith('limit:')) return (value as Counter).resetAt;
  if (key.startsWith('otp:')) return (value as ActiveOtp).expiresAt;
  if (key.startsWith('until:')) return typeof value === 'number' ? value : null;
  return null;
}
