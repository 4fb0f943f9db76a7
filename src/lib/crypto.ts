/**
 * Web Crypto helpers shared by every signature check (Razorpay checkout and webhooks, GitHub webhooks,
 * OTP hashing…). Never compare secrets or MACs with `===`: use `timingSafeEqual`.
 */

const encoder = new TextEncoder();

const toBytes = (data: string | ArrayBuffer | Uint8Array): Uint8Array =>
  typeof data === 'string' ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = '';
  for (const b of view) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Raw HMAC-SHA256 of `message` under `secret`. */
export async function hmacSha256(secret: string | Uint8Array, message: string | ArrayBuffer | Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', toBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, toBytes(message)));
}

/** Lower-case hex HMAC-SHA256 (the format Razorpay and GitHub use). */
export async function hmacSha256Hex(secret: string | Uint8Array, message: string | ArrayBuffer | Uint8Array): Promise<string> {
  return toHex(await hmacSha256(secret, message));
}

/** Lower-case hex SHA-256. */
export async function sha256Hex(data: string | ArrayBuffer | Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', toBytes(data)));
}

type SubtleWithTimingSafeEqual = SubtleCrypto & { timingSafeEqual?: (a: ArrayBufferView | ArrayBuffer, b: ArrayBufferView | ArrayBuffer) => boolean };

/**
 * Constant-time equality of two strings or byte arrays. The running time depends only on the length
 * of `a` (the expected value), never on where the inputs differ. Uses workerd's
 * `crypto.subtle.timingSafeEqual` when present, otherwise an XOR accumulator.
 */
export function timingSafeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const x = toBytes(a);
  const y = toBytes(b);
  const sameLength = x.length === y.length;
  // Compare x with itself on a length mismatch so the work done is the same either way.
  const other = sameLength ? y : x;
  const subtle = crypto.subtle as SubtleWithTimingSafeEqual;
  let equal: boolean;
  if (typeof subtle.timingSafeEqual === 'function') {
    equal = subtle.timingSafeEqual(x, other);
  } else {
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff |= x[i]! ^ other[i]!;
    equal = diff === 0;
  }
  return sameLength && equal;
}

/** True when `signatureHex` is the hex HMAC-SHA256 of `message` under `secret` (case-insensitive hex). */
export async function verifyHmacSha256Hex(secret: string, message: string | ArrayBuffer | Uint8Array, signatureHex: string | null | undefined): Promise<boolean> {
  if (!signatureHex || !/^[0-9a-fA-F]{64}$/.test(signatureHex.trim())) return false;
  const expected = await hmacSha256Hex(secret, message);
  return timingSafeEqual(expected, signatureHex.trim().toLowerCase());
}

/** A fresh random secret: `bytes` from crypto.getRandomValues, base64url without padding (32 bytes → 43 characters). */
export function randomToken(bytes = 32): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let binary = '';
  for (const b of raw) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}
