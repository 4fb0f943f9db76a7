import { env } from 'cloudflare:workers';
import { importJWK, SignJWT, type JWK } from 'jose';

export interface SessionOptions {
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  azp?: string;
  issuer?: string;
  /** Sign with a different key (a forged token). */
  foreignKey?: boolean;
  /** Extra or replaced protected-header fields (e.g. `typ: 'at+jwt'` for an OAuth access token). */
  header?: Record<string, unknown>;
  /** Extra or replaced claims (e.g. `sts: 'pending'`). */
  claims?: Record<string, unknown>;
}

let foreign: CryptoKey | undefined;

/** Mint a Clerk-shaped session JWT signed with the test key pair whose public half is CLERK_JWT_KEY. */
export async function sessionToken(userId: string, options: SessionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let key: CryptoKey;
  if (options.foreignKey) {
    foreign ??= (
      (await crypto.subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      )) as CryptoKeyPair
    ).privateKey;
    key = foreign;
  } else {
    key = (await importJWK(JSON.parse(env.TEST_CLERK_PRIVATE_JWK) as JWK, 'RS256')) as CryptoKey;
  }
  return new SignJWT({ sid: `sess_${userId}`, azp: options.azp ?? 'https://app.fairarena.test', v: 2, sts: 'active', ...options.claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'ins_test', typ: 'JWT', ...options.header })
    .setSubject(userId)
    .setIssuer(options.issuer ?? 'https://clerk.fairarena.test')
    .setIssuedAt(now - 5)
    .setNotBefore(now - 5)
    .setExpirationTime(now + (options.expiresIn ?? 300))
    .sign(key);
}

/** A user object shaped like Clerk's User JSON (webhook `data` and Backend API GET /v1/users/:id). */
export function clerkUserJson(overrides: { id: string; email: string; first_name?: string | null; last_name?: string | null; username?: string | null }) {
  const emailId = `idn_${overrides.id.slice(5)}`;
  return {
    id: overrides.id,
    object: 'user',
    username: overrides.username ?? null,
    first_name: overrides.first_name === undefined ? 'Ada' : overrides.first_name,
    last_name: overrides.last_name === undefined ? 'Lovelace' : overrides.last_name,
    image_url: 'https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9',
    has_image: false,
    primary_email_address_id: emailId,
    email_addresses: [
      { id: `idn_other_${overrides.id.slice(5)}`, object: 'email_address', email_address: `secondary.${overrides.email}`, verification: { status: 'verified', strategy: 'email_code' }, linked_to: [] },
      { id: emailId, object: 'email_address', email_address: overrides.email, verification: { status: 'verified', strategy: 'email_code' }, linked_to: [] },
    ],
    phone_numbers: [],
    external_accounts: [],
    public_metadata: {},
    private_metadata: {},
    unsafe_metadata: {},
    created_at: Date.now() - 1000,
    updated_at: Date.now(),
    last_sign_in_at: null,
    banned: false,
    locked: false,
  };
}

/** A request body + svix headers signed the way Clerk (svix) signs webhooks. */
export async function signedClerkWebhook(
  secret: string,
  type: string,
  data: unknown,
  options: { msgId?: string; timestamp?: Date } = {},
): Promise<{ body: string; headers: Record<string, string> }> {
  const { Webhook } = await import('svix');
  const msgId = options.msgId ?? `msg_${crypto.randomUUID().replaceAll('-', '')}`;
  const timestamp = options.timestamp ?? new Date();
  const body = JSON.stringify({ data, object: 'event', type, timestamp: timestamp.getTime(), instance_id: 'ins_test' });
  const signature = new Webhook(secret).sign(msgId, timestamp, body);
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      'svix-id': msgId,
      'svix-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'svix-signature': signature,
    },
  };
}
