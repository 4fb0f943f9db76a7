import { Resend } from 'resend';
import type { Config } from '../config';
import { ProviderRefusal, withTimeout } from '../lib/http';
import { traceHeaders } from '../lib/trace';

export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  tags?: Record<string, string>;
  headers?: Record<string, string>;
  attachments?: { filename: string; content: string; contentType: string }[];
}

const SEND_TIMEOUT_MS = 10_000;

/** Send through Resend. `idempotencyKey` makes a redelivered event never send the mail twice. */
export async function sendWithResend(config: Config, mail: OutgoingEmail, idempotencyKey: string): Promise<string> {
  const resend = new Resend(config.RESEND_API_KEY, { baseUrl: config.RESEND_API_BASE_URL });
  const { data, error } = await withTimeout(
    resend.emails.send(
      {
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        headers: mail.headers,
        tags: mail.tags && Object.entries(mail.tags).map(([name, value]) => ({ name, value })),
        attachments: mail.attachments?.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
      },
      // The SDK reads the answer inside this call, so the race below bounds the body too; the signal aborts the request.
      { idempotencyKey, headers: traceHeaders(), signal: AbortSignal.timeout(SEND_TIMEOUT_MS) },
    ),
    SEND_TIMEOUT_MS,
    'Resend send',
  );
  if (error || !data) {
    const message = `Resend refused the email: ${error?.name ?? 'unknown'}: ${error?.message ?? 'no id returned'}`;
    // The SDK reports a network failure with no status: only a 4xx answer proves the mail was not sent.
    const status = error?.statusCode;
    const err = typeof status === 'number' && status >= 400 && status < 500 ? new ProviderRefusal(message, status) : new Error(message);
    // Resend's error name (e.g. rate_limit_exceeded), for callers deciding whether a retry can succeed.
    throw Object.assign(err, { providerCode: error?.name ?? null });
  }
  return data.id;
}
