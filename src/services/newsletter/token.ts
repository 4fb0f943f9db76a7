import type { Config } from '../../config';
import { hmacSha256, timingSafeEqual } from '../../lib/crypto';
import { AppError } from '../../lib/errors';

/**
 * Newsletter links carry `{email, token}` with token = base64url(HMAC-SHA256(NEWSLETTER_TOKEN_SECRET,
 * `${purpose}:${email}`)). Only the owner of the mailbox ever receives one, so only they can confirm
 * or unsubscribe (a bare email in the link would let anyone unsubscribe anyone). Nothing is stored.
 */
export type NewsletterTokenPurpose = 'confirm' | 'unsubscribe';

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function newsletterSecret(config: Config): string {
  if (!config.NEWSLETTER_TOKEN_SECRET) throw new AppError('SERVICE_UNAVAILABLE', 'The newsletter is not configured');
  return config.NEWSLETTER_TOKEN_SECRET;
}

export async function newsletterToken(config: Config, purpose: NewsletterTokenPurpose, email: string): Promise<string> {
  return base64url(await hmacSha256(newsletterSecret(config), `${purpose}:${normalizeEmail(email)}`));
}

/** Constant-time check of a token from a link. */
export async function verifyNewsletterToken(config: Config, purpose: NewsletterTokenPurpose, email: string, token: string | undefined): Promise<boolean> {
  if (!token) return false;
  const expected = await newsletterToken(config, purpose, email);
  return timingSafeEqual(expected, token.trim());
}

/** Frontend pages that POST the pair back to /newsletter/confirm and /newsletter/unsubscribe. */
export async function newsletterLink(config: Config, purpose: NewsletterTokenPurpose, email: string): Promise<string> {
  const query = new URLSearchParams({ email: normalizeEmail(email), token: await newsletterToken(config, purpose, email) });
  return `${config.FRONTEND_URL.replace(/\/+$/, '')}/newsletter/${purpose}?${query}`;
}
