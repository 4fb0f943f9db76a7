import { compactVerify, SignJWT } from 'jose';
import { sha256Hex, timingSafeEqual } from '../../lib/crypto';

/**
 * Step-up token: HS256 JWT under STEPUP_TOKEN_SECRET with claims
 *   { sub: userId, purpose: 'step-up', ua: sha256(User-Agent), ip: sha256(CF-Connecting-IP), iat, exp: iat + 600 }
 * Bound to the user and the client: replayed from another User-Agent or IP, or by another user, it is refused.
 * Carried in the `fa_stepup` cookie (httpOnly, Secure, SameSite=Strict, Path=/api/v1) or the
 * `X-Step-Up-Token` header for API clients. Pure functions (no I/O): the service passes the secret.
 */
export const STEP_UP_COOKIE = 'fa_stepup';
export const STEP_UP_HEADER = 'X-Step-Up-Token';
export const STEP_UP_TTL_SECONDS = 600;
const PURPOSE = 'step-up';

export interface StepUpClient {
  userId: string;
  userAgent: string | null;
  ip: string | null;
}

const fingerprint = (value: string | null) => sha256Hex(value ?? 'unknown');

const key = (secret: string) => new TextEncoder().encode(secret);

export async function signStepUpToken(input: { secret: string; client: StepUpClient; nowMs?: number }): Promise<{ token: string; expiresAt: number }> {
  const { secret, client, nowMs = Date.now() } = input;
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + STEP_UP_TTL_SECONDS;
  const token = await new SignJWT({ purpose: PURPOSE, ua: await fingerprint(client.userAgent), ip: await fingerprint(client.ip) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(client.userId)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key(secret));
  return { token, expiresAt: exp * 1000 };
}

export type StepUpVerdict =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: 'missing' | 'invalid' | 'expired' | 'other_user' | 'other_device' };

/** Check a step-up token against the current caller and client at `nowMs`. Never throws. */
export async function verifyStepUpToken(input: { secret: string; token: string | null | undefined; client: StepUpClient; nowMs?: number }): Promise<StepUpVerdict> {
  const { secret, token, client, nowMs = Date.now() } = input;
  if (!token) return { ok: false, reason: 'missing' };
  let claims: Record<string, unknown>;
  try {
    // Only the signature is checked here; the claims (times against nowMs, a controllable clock) below.
    const { payload } = await compactVerify(token, key(secret), { algorithms: ['HS256'] });
    const parsed: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, reason: 'invalid' };
    claims = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (claims.purpose !== PURPOSE || typeof claims.exp !== 'number' || typeof claims.ua !== 'string' || typeof claims.ip !== 'string') {
    return { ok: false, reason: 'invalid' };
  }
  if (claims.exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  if (claims.sub !== client.userId) return { ok: false, reason: 'other_user' };
  const [ua, ip] = await Promise.all([fingerprint(client.userAgent), fingerprint(client.ip)]);
  const sameUa = timingSafeEqual(ua, claims.ua);
  const sameIp = timingSafeEqual(ip, claims.ip);
  if (!sameUa || !sameIp) return { ok: false, reason: 'other_device' };
  return { ok: true, expiresAt: claims.exp * 1000 };
}
