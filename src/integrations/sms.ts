import type { Config } from '../config';
import { describeError, log } from '../lib/log';
import { httpCall, jsonOf, ProviderRefusal } from '../lib/http';
import { traceHeaders } from '../lib/trace';

/**
 * Phone providers: Twilio (SMS and voice calls) and the optional disposable-number validator. Errors thrown
 * from here never contain the message text (Twilio's error body is reduced to its status and error code).
 * A send that certainly did not go out throws ProviderRefusal; any other error leaves it unknown.
 * Which provider a code goes to, and the development mailbox, are decided in src/durable/otp-delivery.ts.
 */

/** Where Twilio is and whose account sends. */
export interface TwilioAccount {
  baseUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
}

/** The one small interface every SMS / voice provider implements. */
export interface SmsProvider {
  readonly name: 'twilio' | 'dev';
  /** Send a text message. */
  sendSms(to: string, body: string): Promise<void>;
  /** Place a call that reads `spoken` out (twice). */
  call(to: string, spoken: string): Promise<void>;
}

const PROVIDER_TIMEOUT_MS = 10_000;

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);

/** Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json and /Calls.json (form-encoded, HTTP Basic). */
export function twilioProvider(d: TwilioAccount): SmsProvider {
  const post = async (resource: 'Messages' | 'Calls', form: Record<string, string>) => {
    const url = `${d.baseUrl.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(d.accountSid)}/${resource}.json`;
    const res = await httpCall(
      `Twilio ${resource}`,
      url,
      {
        method: 'POST',
        headers: { Authorization: `Basic ${btoa(`${d.accountSid}:${d.authToken}`)}`, 'Content-Type': 'application/x-www-form-urlencoded', ...traceHeaders() },
        body: new URLSearchParams(form).toString(),
      },
      PROVIDER_TIMEOUT_MS,
    );
    if (!res.ok) {
      // Only Twilio's numeric error code: the body may echo request fields.
      const b = jsonOf(res);
      const code = b && typeof b === 'object' && 'code' in b ? String((b as { code: unknown }).code) : 'unknown';
      const message = `Twilio ${resource} refused the request: HTTP ${res.status}, error ${code}`;
      // A 4xx means nothing was sent; after a 5xx the message may still go out.
      throw res.status < 500 ? new ProviderRefusal(message, res.status) : new Error(message);
    }
  };
  return {
    name: 'twilio',
    sendSms: (to, body) => post('Messages', { To: to, From: d.from, Body: body }),
    call: (to, spoken) => post('Calls', { To: to, From: d.from, Twiml: `<Response><Say>${xmlEscape(spoken)}</Say></Response>` }),
  };
}

export type DisposableVerdict = 'ok' | 'disposable' | 'invalid';

/**
 * Optional disposable-number check: `GET {CREDENTIAL_VALIDATOR_URL}/check-phone?phone=<digits>` →
 * `{ tempphone: true | false | null | "invalid phone number" }`; a throwaway number cannot verify. Skipped when the URL is
 * unset; fails OPEN (ok) on timeout, network error, non-200 or an unexpected body.
 */
export async function checkDisposablePhone(config: Config, e164: string): Promise<DisposableVerdict> {
  if (!config.CREDENTIAL_VALIDATOR_URL) return 'ok';
  try {
    const url = new URL('check-phone', config.CREDENTIAL_VALIDATOR_URL.endsWith('/') ? config.CREDENTIAL_VALIDATOR_URL : `${config.CREDENTIAL_VALIDATOR_URL}/`);
    url.searchParams.set('phone', e164.replace(/^\+/, ''));
    const res = await httpCall('credential validator', url, { headers: { Accept: 'application/json' } }, 5000);
    if (!res.ok) {
      log('warn', 'phone.validator_unavailable', { status: res.status });
      return 'ok';
    }
    const body = jsonOf(res) as { tempphone?: unknown } | null;
    if (body?.tempphone === true) return 'disposable';
    if (typeof body?.tempphone === 'string' && /invalid/i.test(body.tempphone)) return 'invalid';
    return 'ok';
  } catch (err) {
    log('warn', 'phone.validator_unavailable', { error: describeError(err) });
    return 'ok';
  }
}
