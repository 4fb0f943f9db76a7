import { Pool } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-serverless';
import type { Config } from '../config';
import { configureNeonDriver } from '../db/client';
import { devEmails } from '../db/schema';
import { describeError, log } from '../lib/log';
import { withTimeout } from '../lib/http';
import { sendWithResend } from './resend';
import { traceHeaders } from '../lib/trace';

/**
 * OTP delivery: SMS and voice calls (Twilio Messages / Calls APIs over fetch, or the dev mailbox) and the
 * step-up email (Resend, or the dev mailbox).
 *
 * These functions are called from INSIDE the UserState Durable Object, in the same call that generated
 * the code: the plaintext code is handed to the provider and to nothing else. Errors thrown from here
 * never contain the message text (Twilio's error body is reduced to its status and error code).
 *
 * A `…Delivery` value says where a code goes. The worker builds it from its config
 * (`phoneDeliveryFor` / `emailDeliveryFor`) and passes it into the DO call; it is never stored.
 */

/** The local development mailbox (`dev_emails`): the database the DO writes to. */
export interface DevMailbox {
  databaseUrl: string;
  neonProxy?: string;
}

export type PhoneDelivery =
  | { kind: 'twilio'; baseUrl: string; accountSid: string; authToken: string; from: string }
  | { kind: 'dev-mailbox'; mailbox: DevMailbox };

export type EmailDelivery =
  | { kind: 'resend'; apiKey: string; baseUrl: string; from: string }
  | { kind: 'dev-mailbox'; mailbox: DevMailbox; from: string };

/** The one small interface every SMS / voice provider implements. */
export interface SmsProvider {
  readonly name: 'twilio' | 'dev';
  /** Send a text message. */
  sendSms(to: string, body: string): Promise<void>;
  /** Place a call that reads `spoken` out (twice). */
  call(to: string, spoken: string): Promise<void>;
}

const PROVIDER_TIMEOUT_MS = 10_000;

/** The delivery for SMS/voice codes under this config. `dev` is refused by the config in staging/production. */
export function phoneDeliveryFor(config: Config): PhoneDelivery {
  if (config.SMS_PROVIDER === 'twilio') {
    if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN || !config.TWILIO_FROM_NUMBER) throw new Error('Twilio is not configured');
    return {
      kind: 'twilio',
      baseUrl: config.SMS_API_BASE_URL,
      accountSid: config.TWILIO_ACCOUNT_SID,
      authToken: config.TWILIO_AUTH_TOKEN,
      from: config.TWILIO_FROM_NUMBER,
    };
  }
  return { kind: 'dev-mailbox', mailbox: { databaseUrl: config.DATABASE_URL, neonProxy: config.NEON_LOCAL_PROXY } };
}

/** The delivery for emailed codes: Resend when RESEND_API_KEY is set, otherwise the dev mailbox (never in production). */
export function emailDeliveryFor(config: Config): EmailDelivery {
  if (config.RESEND_API_KEY) return { kind: 'resend', apiKey: config.RESEND_API_KEY, baseUrl: config.RESEND_API_BASE_URL, from: config.EMAIL_FROM };
  if (config.ENVIRONMENT === 'production') throw new Error('RESEND_API_KEY is not configured');
  return { kind: 'dev-mailbox', mailbox: { databaseUrl: config.DATABASE_URL, neonProxy: config.NEON_LOCAL_PROXY }, from: config.EMAIL_FROM };
}

/** The SMS text of a phone-verification code. */
export const otpSmsText = (code: string, ttlMinutes: number) =>
  `${code} is your FairArena verification code. It expires in ${ttlMinutes} minutes. Never share it with anyone.`;

/** What the voice call reads out: the digits one by one, twice. */
export const otpVoiceText = (code: string) => {
  const digits = code.split('').join(', ');
  return `Your FairArena verification code is: ${digits}. Again, your code is: ${digits}.`;
};

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);

/** Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json and /Calls.json (form-encoded, HTTP Basic). */
export function twilioProvider(d: Extract<PhoneDelivery, { kind: 'twilio' }>): SmsProvider {
  const post = async (resource: 'Messages' | 'Calls', form: Record<string, string>) => {
    const url = `${d.baseUrl.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(d.accountSid)}/${resource}.json`;
    const res = await withTimeout(
      fetch(url, {
        method: 'POST',
        headers: { Authorization: `Basic ${btoa(`${d.accountSid}:${d.authToken}`)}`, 'Content-Type': 'application/x-www-form-urlencoded', ...traceHeaders() },
        body: new URLSearchParams(form).toString(),
      }),
      PROVIDER_TIMEOUT_MS,
      `Twilio ${resource}`,
    );
    if (!res.ok) {
      // Only Twilio's numeric error code: the body may echo request fields.
      const code = await res
        .json()
        .then((b) => (b && typeof b === 'object' && 'code' in b ? String((b as { code: unknown }).code) : 'unknown'))
        .catch(() => 'unknown');
      throw new Error(`Twilio ${resource} refused the request: HTTP ${res.status}, error ${code}`);
    }
  };
  return {
    name: 'twilio',
    sendSms: (to, body) => post('Messages', { To: to, From: d.from, Body: body }),
    call: (to, spoken) => post('Calls', { To: to, From: d.from, Twiml: `<Response><Say>${xmlEscape(spoken)}</Say></Response>` }),
  };
}

/** Development: the "SMS" or "call" lands in the dev mailbox (GET /dev/emails), addressed to the phone number. */
export function devSmsProvider(mailbox: DevMailbox): SmsProvider {
  return {
    name: 'dev',
    sendSms: (to, body) => writeDevMailbox(mailbox, { to, from: 'FairArena SMS (dev)', subject: `SMS to ${to}`, text: body, template: 'sms-otp' }),
    call: (to, spoken) => writeDevMailbox(mailbox, { to, from: 'FairArena voice (dev)', subject: `Voice call to ${to}`, text: spoken, template: 'voice-otp' }),
  };
}

export function smsProviderFor(delivery: PhoneDelivery): SmsProvider {
  return delivery.kind === 'twilio' ? twilioProvider(delivery) : devSmsProvider(delivery.mailbox);
}

export interface OtpEmail {
  to: string;
  subject: string;
  html: string;
  text: string;
  template: string;
}

/** Send an emailed code (Resend, or the dev mailbox). */
export async function deliverEmail(delivery: EmailDelivery, mail: OtpEmail, idempotencyKey: string): Promise<void> {
  if (delivery.kind === 'resend') {
    await sendWithResend(
      { RESEND_API_KEY: delivery.apiKey, RESEND_API_BASE_URL: delivery.baseUrl } as Config,
      { from: delivery.from, to: mail.to, subject: mail.subject, html: mail.html, text: mail.text, tags: { template: mail.template } },
      idempotencyKey,
    );
    return;
  }
  await writeDevMailbox(delivery.mailbox, { ...mail, from: delivery.from, idempotencyKey });
}

/** One row in dev_emails through a short-lived connection (the DO has no request-scoped Db). */
export async function writeDevMailbox(
  mailbox: DevMailbox,
  m: { to: string; from: string; subject: string; text: string; html?: string; template: string; idempotencyKey?: string },
): Promise<void> {
  configureNeonDriver(mailbox.neonProxy, mailbox.databaseUrl);
  const pool = new Pool({ connectionString: mailbox.databaseUrl, max: 1, connectionTimeoutMillis: 5000 });
  try {
    await drizzle({ client: pool })
      .insert(devEmails)
      .values({ to: m.to, from: m.from, subject: m.subject, text: m.text, html: m.html ?? null, tags: { template: m.template, idempotencyKey: m.idempotencyKey ?? null } });
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export type DisposableVerdict = 'ok' | 'disposable' | 'invalid';

/**
 * Optional disposable-number check: `GET {CREDENTIAL_VALIDATOR_URL}/check-phone?phone=<digits>` →
 * `{ tempphone: true | false | null | "invalid phone number" }` (reference §6.4). Skipped when the URL is
 * unset; fails OPEN (ok) on timeout, network error, non-200 or an unexpected body.
 */
export async function checkDisposablePhone(config: Config, e164: string): Promise<DisposableVerdict> {
  if (!config.CREDENTIAL_VALIDATOR_URL) return 'ok';
  try {
    const url = new URL('check-phone', config.CREDENTIAL_VALIDATOR_URL.endsWith('/') ? config.CREDENTIAL_VALIDATOR_URL : `${config.CREDENTIAL_VALIDATOR_URL}/`);
    url.searchParams.set('phone', e164.replace(/^\+/, ''));
    const res = await withTimeout(fetch(url, { headers: { Accept: 'application/json' } }), 5000, 'credential validator');
    if (!res.ok) {
      log('warn', 'phone.validator_unavailable', { status: res.status });
      return 'ok';
    }
    const body = (await res.json()) as { tempphone?: unknown };
    if (body?.tempphone === true) return 'disposable';
    if (typeof body?.tempphone === 'string' && /invalid/i.test(body.tempphone)) return 'invalid';
    return 'ok';
  } catch (err) {
    log('warn', 'phone.validator_unavailable', { error: describeError(err) });
    return 'ok';
  }
}
