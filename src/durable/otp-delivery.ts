import type { Config } from '../config';
import { writeDevMailbox, type DevMailbox } from '../db/dev-mailbox';
import { sendWithResend } from '../integrations/resend';
import { twilioProvider, type SmsProvider, type TwilioAccount } from '../integrations/sms';

/**
 * OTP delivery: SMS and voice calls (Twilio, or the dev mailbox) and the
 * step-up email (Resend, or the dev mailbox).
 *
 * The sending functions are called from INSIDE the UserState Durable Object, in the same call that generated
 * the code: the plaintext code is handed to the provider and to nothing else.
 *
 * A `…Delivery` value says where a code goes. The worker builds it from its config
 * (`phoneDeliveryFor` / `emailDeliveryFor`) and passes it into the DO call; it is never stored.
 */

export type { DevMailbox } from '../db/dev-mailbox';

export type PhoneDelivery =
  | ({ kind: 'twilio' } & TwilioAccount)
  | { kind: 'dev-mailbox'; mailbox: DevMailbox };

export type EmailDelivery =
  | { kind: 'resend'; apiKey: string; baseUrl: string; from: string }
  | { kind: 'dev-mailbox'; mailbox: DevMailbox; from: string };

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
