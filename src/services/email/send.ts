import { devEmails } from '../../db/schema';
import { sendWithResend } from '../../integrations/resend';
import type { ServiceContext } from '../context';
import type { RenderedEmail } from './templates';

export interface OutgoingEmail {
  to: string;
  email: RenderedEmail;
  /** Stable per logical email (e.g. `${eventId}:${handler}`): a redelivery never sends twice. */
  idempotencyKey: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; content: string; contentType: string }[];
}

/** Addresses we hold for users whose real email is not known (yet) or was anonymised. */
export const isPlaceholderEmail = (to: string) => /@(users|anonymized)\.invalid$/i.test(to);

// Resend's error names for a mail it could not take right now: its own 5xx and network failures, throttling
// and quota (429), a concurrent request under the same idempotency key. Anything else (validation, a bad
// address or attachment, a refused key) will fail the same way on every retry.
const TRANSIENT_RESEND = new Set(['application_error', 'internal_server_error', 'rate_limit_exceeded', 'daily_quota_exceeded', 'concurrent_idempotent_requests']);

/** Whether a sendEmail failure may succeed on a later attempt (the queue should retry it). */
export function isTransientMailError(err: unknown): boolean {
  const e = err as { name?: unknown; providerCode?: unknown } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  return typeof e?.providerCode === 'string' && TRANSIENT_RESEND.has(e.providerCode);
}

/**
 * Deliver one email: through Resend when RESEND_API_KEY is set, otherwise into the dev mailbox table
 * (readable at GET /dev/emails in development, written on `ctx.db`, so inside the handler's transaction).
 * Never silently dropped. Called from queue handlers only.
 */
export async function sendEmail(ctx: ServiceContext, input: OutgoingEmail): Promise<void> {
  const { config } = ctx;
  const { to, email } = input;
  if (isPlaceholderEmail(to)) throw new Error('recipient address not known yet'); // retried by the queue
  const mail = {
    from: config.EMAIL_FROM,
    to,
    subject: email.subject,
    html: email.html,
    text: email.text,
    tags: { template: email.template },
    headers: input.headers,
    attachments: input.attachments,
  };
  if (config.RESEND_API_KEY) {
    await sendWithResend(config, mail, input.idempotencyKey);
    return;
  }
  if (config.ENVIRONMENT === 'production') throw new Error('RESEND_API_KEY is not configured');
  await ctx.db.write.insert(devEmails).values({
    to,
    from: mail.from,
    subject: mail.subject,
    html: mail.html,
    text: mail.text,
    tags: { template: email.template, idempotencyKey: input.idempotencyKey },
    attachments: input.attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.content.length })) ?? null,
  });
}
