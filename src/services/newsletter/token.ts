import { hmacSha256, timingSafeEqual } from '../../lib/crypto';
import { FRONTEND_PAGES } from '../../lib/frontend-pages';

/**
 * Newsletter links carry `{email, token}` with token = base64url(HMAC-SHA256(NEWSLETTER_TOKEN_SECRET,
 * `${purpose}:${email}`)). Only the owner of the mailbox ever receives one, so only they can confirm
 * or unsubscribe (a bare email in the link would let anyone unsubscribe anyone). Nothing is stored.
 * Pure functions: the service passes the secret.
 */
export type NewsletterTokenPurpose = 'confirm' | 'unsubscribe';

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export interface NewsletterTokenInput {
  secret: string;
  purpose: NewsletterTokenPurpose;
  email: string;
}

export async function newsletterToken(input: NewsletterTokenInput): Promise<string> {
  return base64url(await hmacSha256(input.secret, `${input.purpose}:${normalizeEmail(input.email)}`));
}

/** Constant-time check of a token from a link. */
export async function verifyNewsletterToken(input: NewsletterTokenInput & { token: string | undefined }): Promise<boolean> {
  if (!input.token) return false;
  const expected = await newsletterToken(input);
  return timingSafeEqual(expected, input.token.trim());
}

/** Frontend pages that POST the pair back to /newsletter/confirm and /newsletter/unsubscribe. */
export async function newsletterLink(input: NewsletterTokenInput & { frontendUrl: string }): Promise<string> {
  const query = new URLSearchParams({ email: normalizeEmail(input.email), token: await newsletterToken(input) });
  return `${input.frontendUrl.replace(/\/+$/, '')}${FRONTEND_PAGES.newsletter(input.purpose)}?${query}`;
}
