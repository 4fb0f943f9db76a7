import type { Config } from '../../config';
import type { Database } from '../../db/client';
import { devEmails } from '../../db/schema';
import { sendWithResend } from '../../integrations/resend';
import type { RenderedEmail } from './templates';

export interface SendOptions {
  /** Stable per logical email (e.g. `${eventId}:${handler}`): a redelivery never sends twice. */
  idempotencyKey: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; content: string; contentType: string }[];
}

/** Addresses we hold for users whose real email is not known (yet) or was anonymised. */
export const isPlaceholderEmail = (to: string) => /@(users|anonymized)\.invalid$/i.test(to);

/**
 * Deliver one email: through Resend when RESEND_API_KEY is set, otherwise into the dev mailbox table
 * (readable at GET /dev/emails in development). Never silently dropped. Called from queue handlers only.
 */
export async function sendEmail(deps: { db: Database; config: Config }, to: string, email: RenderedEmail, options: SendOptions): Promise<void> {
  if (isPlaceholderEmail(to)) throw new Error('recipient address not known yet'); // retried by the queue
  const mail = {
    from: deps.config.EMAIL_FROM,
    to,
    subject: email.subject,
    html: email.html,
    text: email.text,
    tags: { template: email.template },
    headers: options.headers,
    attachments: options.attachments,
  };
  if (deps.config.RESEND_API_KEY) {
    await sendWithResend(deps.config, mail, options.idempotencyKey);
    return;
  }
  if (deps.config.ENVIRONMENT === 'production') throw new Error('RESEND_API_KEY is not configured');
  await deps.db.insert(devEmails).values({
    to,
    from: mail.from,
    subject: mail.subject,
    html: mail.html,
    text: mail.text,
    tags: { template: email.template, idempotencyKey: options.idempotencyKey },
    attachments: options.attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.content.length })) ?? null,
  });
}
