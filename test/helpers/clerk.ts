import { env } from 'cloudflare:workers';
import { importJWK, SignJWT, type JWK } from 'jose';

export interface SessionOptions {
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  azp?: string;
  issuer?: string;
  /** Sign with a different key (a forged token). */
  foreignKey?: boolean;
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
  return new SignJWT({ sid: `sess_${userId}`, azp: options.azp ?? 'https://app.fairarena.test', v: 2, sts: 'active' })
    .setProtectedHeader({ alg: 'RS256', kid: 'ins_test', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(options.issuer ?? 'https://clerk.fairarena.test')
    .setIssuedAt(now - 5)
    .setNotBefore(now - 5)
    .setExpirationTime(now + (options.expiresIn ?? 300))
    .sign(key);
}
