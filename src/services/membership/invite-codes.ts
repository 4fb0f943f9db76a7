import { randomToken, sha256Hex } from '../../lib/crypto';

/*
 * ── Invite codes: who ever sees the plaintext? ──────────────────────────────────────────────────────
 * A code is 32 random bytes (crypto.getRandomValues, 256 bits) as base64url; the database stores only its
 * SHA-256 hex (code_hash). The plaintext must reach the invitee's mailbox, and emails are sent only by queue
 * handlers, whose event payloads carry ids and no secrets. Rather than smuggling the code through the outbox
 * and the queue (and scrubbing it afterwards), or encrypting it under a new secret, the code is MINTED BY THE
 * EMAIL HANDLER (invite-mint.ts):
 *   1. the request creates the invite with the hash of a throw-away random value that nobody ever knows
 *      (so the row satisfies its CHECK/UNIQUE constraints but no code can match it yet), and emits
 *      `organization.invited` / `team.invited` with the invite id only;
 *   2. the handler, in its transaction (the one that also marks the event processed), generates the code,
 *      sends the email containing the link and only then stores the code's hash on the still-pending invite,
 *      so no row lock is held while the provider answers. A rollback undoes the hash; a redelivery of a
 *      processed event does nothing.
 * The plaintext exists only in the handler's memory and in the email: never in a table, the outbox, the
 * queue, a dead letter, a log or an API response. If the provider accepted the email but the transaction
 * then failed to commit, the retry mints a new code and sends a second email (the idempotency key includes
 * the hash, so the provider does not swallow it); the first email's link is then dead — the invitee uses
 * the newer one. An invite whose email could not be sent is simply unusable; revoke it and invite again.
 */

/** A fresh invite code: 32 random bytes, base64url (43 characters). */
export const newInviteCode = (): string => randomToken(32);

/** SHA-256 hex of a code (what code_hash stores). */
export const hashInviteCode = (code: string): Promise<string> => sha256Hex(code);

/** Hash of a value nobody knows: an invite is unusable until the email handler mints its code. */
export const unusableHash = (): Promise<string> => hashInviteCode(newInviteCode());
