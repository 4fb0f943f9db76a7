import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { errors as joseErrors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config';
import { type AppEnv, serviceContext } from '../router';
import { AppError } from '../lib/errors';
import { describeError, log } from '../lib/log';
import { ensureActiveUser } from '../services/users';

/*
 * Session tokens only. Clerk's own middleware verifies every kind of token it is shown, and for API keys,
 * machine tokens and OAuth tokens that means a call to Clerk's Backend API with our secret key — so any
 * anonymous request could spend our Clerk rate limit. Its JWT verifier also imports the PEM key on every
 * call. Here a session token is checked offline against a key imported once per isolate (per
 * CLERK_JWT_KEY), with Clerk's own rules; anything else leaves the request anonymous without a network call.
 */

/** Opaque machine credentials: API keys, M2M tokens, OAuth tokens. Never verified, never sent on. */
const MACHINE_TOKEN_PREFIXES = ['ak_', 'mt_', 'oat_'];
/** Clerk's `cat` header value of session tokens (absent on older ones). */
const SESSION_TOKEN_CATEGORY = 'cl_B7d4PD111AAA';
/** Clerk's default clock skew allowance. */
const CLOCK_SKEW_SECONDS = 5;

/**
 * Verified session tokens, kept beside their key: a client sends the same session token with every request of its
 * short life, and checking an RSA signature is about a tenth of an authenticated read's CPU. Only tokens whose
 * signature passed are kept (nobody fills this without valid tokens), at most VERIFIED_MAX, each dropped once
 * expired; the lifetime and Clerk's session rules are still checked on every request.
 */
interface Verified {
  payload: JWTPayload;
  header: { typ?: string; cat?: unknown };
}
const VERIFIED_MAX = 1000;

let sessionKey: { pem: string; key: Promise<CryptoKey>; verified: Map<string, Verified> } | undefined;

/** CLERK_JWT_KEY imported once per isolate (a new key value imports again and forgets what the old one verified). */
function sessionKeyFor(pem: string) {
  if (sessionKey?.pem !== pem) sessionKey = { pem, key: importSPKI(pem, 'RS256'), verified: new Map() };
  return sessionKey;
}

/** Signature, algorithm and lifetime, as jwtVerify checks them; from the isolate's verified tokens when it can. */
async function verifiedToken(token: string, pem: string): Promise<Verified> {
  const { key, verified } = sessionKeyFor(pem);
  const known = verified.get(token);
  // Kept tokens all carry an `exp`: the one check jwtVerify makes whose answer changes with time.
  if (known && known.payload.exp! > Math.floor(Date.now() / 1000) - CLOCK_SKEW_SECONDS) return known;
  verified.delete(token);
  const { payload, protectedHeader } = await jwtVerify(token, await key, { algorithms: ['RS256'], clockTolerance: CLOCK_SKEW_SECONDS });
  const result: Verified = { payload, header: protectedHeader };
  if (typeof payload.exp === 'number') {
    if (!verified.has(token) && verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!); // the oldest
    verified.set(token, result);
  }
  return result;
}

interface Carried {
  token: string;
  /** For the __session cookie: Clerk's __client_uat (seconds; 0 = signed out in this browser). */
  clientUat?: number;
}

/**
 * A Bearer token wins over cookies, as in Clerk's own request handling. The cookie is not a credential on a
 * cross-site request that carries no Origin (a link, a window, an image or a form GET from another site): the
 * browser attaches it on its own, so such a request must not act as the user; a read that records something (a
 * profile view) would tell the other site who is visiting. Cross-site fetches send an Origin, which the CORS
 * policy has already checked against the allow-list.
 */
function carriedToken(header: string | undefined, cookie: (name: string) => string | undefined, crossSiteWithoutOrigin: boolean): Carried | null {
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? { token: m[1]! } : null;
  }
  if (crossSiteWithoutOrigin) return null;
  const token = cookie('__session');
  if (!token) return null;
  const uat = Number.parseInt(cookie('__client_uat') ?? '', 10);
  return { token, clientUat: Number.isFinite(uat) ? uat : 0 };
}

/** Clerk's rules for a session token beyond its signature and lifetime; false = not a usable session. */
function isUsableSession(payload: JWTPayload, header: { typ?: string; cat?: unknown }, carried: Carried, config: Config): payload is JWTPayload & { sub: string } {
  if (header.typ !== undefined && header.typ !== 'JWT') return false; // OAuth access tokens (at+jwt)
  if (header.cat !== undefined && header.cat !== SESSION_TOKEN_CATEGORY) return false;
  if (typeof payload.sub !== 'string' || !payload.sub || payload.sub.startsWith('mch_')) return false; // mch_: machine subject
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) return false;
  const azp = payload.azp;
  if (typeof azp === 'string' && config.CLERK_AUTHORIZED_PARTIES.length && !config.CLERK_AUTHORIZED_PARTIES.includes(azp)) return false;
  // A session still awaiting a required step (e.g. choosing an organization) is signed out, as Clerk treats it.
  if (payload.sts === 'pending') return false;
  if (carried.clientUat !== undefined) {
    // Signed out in this browser (__client_uat 0 or missing), or the token predates the last sign-in.
    if (!carried.clientUat || typeof payload.iat !== 'number' || payload.iat < carried.clientUat) return false;
  }
  return true;
}

/** The Clerk user id of a valid session token, or null. Throws only for unexpected failures. */
async function verifySession(carried: Carried, config: Config): Promise<string | null> {
  if (!config.CLERK_JWT_KEY) return null;
  // Opaque machine tokens stop here. Machine JWTs (OAuth access tokens, M2M subjects) fail isUsableSession after
  // the one decode jwtVerify does anyway: decoding them up front would cost every session two more decodes.
  if (MACHINE_TOKEN_PREFIXES.some((p) => carried.token.startsWith(p))) return null;
  try {
    const { payload, header } = await verifiedToken(carried.token, config.CLERK_JWT_KEY);
    return isUsableSession(payload, header, carried, config) ? payload.sub : null;
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return null; // malformed, forged, expired, not yet valid
    throw err;
  }
}

/**
 * Resolves the caller from a Clerk session token (Authorization: Bearer, or the __session cookie),
 * verified offline with CLERK_JWT_KEY and the authorized parties — no network call, ever.
 * It never rejects: public routes stay public. A missing, malformed, expired, wrong-key, wrong-party or
 * non-session token simply leaves the request anonymous; `requireUser` turns that into 401.
 */
export const identify: MiddlewareHandler<AppEnv> = async (c, next) => {
  const crossSiteWithoutOrigin = c.req.header('Sec-Fetch-Site') === 'cross-site' && !c.req.header('Origin');
  const carried = carriedToken(c.req.header('Authorization'), (name) => getCookie(c, name), crossSiteWithoutOrigin);
  if (carried) {
    try {
      const userId = await verifySession(carried, c.get('config'));
      if (userId) c.set('userId', userId);
    } catch (err) {
      log('error', 'auth.verifier_failed', { requestId: c.get('requestId'), error: describeError(err) });
    }
  }
  await next();
};

/** 401 AUTH_REQUIRED without a valid session; provisions unknown users just in time. */
export const requireUser: MiddlewareHandler<AppEnv> = async (c, next) => {
  const userId = c.get('userId');
  if (!userId) throw new AppError('AUTH_REQUIRED', 'Sign in to continue');
  await ensureActiveUser(serviceContext(c), userId);
  await next();
};
