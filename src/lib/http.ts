import type { Context } from 'hono';
import { timingSafeEqual } from './crypto';
import { AppError } from './errors';

/** The client's IP as Cloudflare saw it. Never X-Forwarded-For: clients can forge it. */
export function clientIp(c: Context): string | null {
  return c.req.header('CF-Connecting-IP')?.trim() || null;
}

/**
 * The key a per-client limit should count under: an IPv4 address as is; an IPv6 address as its /64
 * prefix (the first four hextets of the expanded address, e.g. `2001:db8:0:0`), because one customer
 * usually holds a whole /64 and could otherwise rotate through 2^64 addresses. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`) counts as its IPv4 address. Anything unparsable is returned trimmed.
 */
export function ipBucket(ip: string | null | undefined): string | null {
  const raw = ip?.trim().toLowerCase();
  if (!raw) return null;
  if (!raw.includes(':')) return raw;
  const hextets = expandIpv6(raw.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (!hextets) return raw;
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    return [hextets[6]! >> 8, hextets[6]! & 0xff, hextets[7]! >> 8, hextets[7]! & 0xff].join('.');
  }
  return hextets
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(':');
}

/** The client's rate-limit bucket: `ipBucket(clientIp(c))`. */
export function clientIpBucket(c: Context): string | null {
  return ipBucket(clientIp(c));
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEXTET = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address (`::` and a trailing dotted IPv4 allowed), or null. */
function expandIpv6(address: string): number[] | null {
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string, last: boolean): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      const v4 = last && i === groups.length - 1 ? IPV4.exec(g) : null;
      if (v4) {
        const b = v4.slice(1).map(Number);
        if (b.some((n) => n > 255)) return null;
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else if (HEXTET.test(g)) out.push(parseInt(g, 16));
      else return null;
    }
    return out;
  };
  const head = parse(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? parse(halves[1]!, true) : [];
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** Race a promise against a deadline; rejects with a TimeoutError after `ms`. It cancels nothing: for HTTP use httpCall. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { name: 'TimeoutError' })), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

/** A third party's answer, read to the end within the call's deadline. */
export interface HttpAnswer {
  status: number;
  ok: boolean;
  headers: Headers;
  text: string;
}

/**
 * One HTTP call to a third party under one deadline for the whole exchange, body included: a provider that
 * sends its headers and then stalls would otherwise hold the caller forever (a deadline on `fetch` alone ends
 * at the headers). The signal aborts the request and the body read; the race bounds the call even where
 * nothing honours the signal. Rejects with a TimeoutError after `ms`.
 */
export async function httpCall(what: string, url: string | URL, init: RequestInit, ms: number): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(ms);
  const exchange = async (): Promise<HttpAnswer> => {
    const res = await fetch(url, { ...init, signal });
    return { status: res.status, ok: res.ok, headers: res.headers, text: await res.text() };
  };
  return withTimeout(exchange(), ms, what);
}

/** The answer's body as JSON, or null when it is empty or not JSON. */
export function jsonOf(answer: HttpAnswer): unknown {
  try {
    return answer.text ? JSON.parse(answer.text) : null;
  } catch {
    return null;
  }
}

/**
 * A provider answered 4xx: it refused the request and did nothing. Only this error proves that nothing went
 * out; after a timeout, a lost connection or a 5xx the provider may still have acted.
 */
export class ProviderRefusal extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ProviderRefusal';
  }
}

/** Whether `err` proves the provider did not act (see ProviderRefusal). */
export const isProviderRefusal = (err: unknown): err is ProviderRefusal => err instanceof ProviderRefusal;

/**
 * Guard of the operator routes (/metrics, /admin/*), each with its own token var: 404 while the token
 * is not configured (the route does not exist), 401 unless `Authorization: Bearer <token>` matches
 * (constant-time comparison).
 */
export function requireBearerToken(c: Context, expected: string | undefined, what: string): void {
  if (!expected) throw new AppError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`);
  const given = c.req.header('Authorization')?.replace(/^Bearer\s+/i, '') ?? '';
  if (!timingSafeEqual(expected, given)) {
    throw new AppError('AUTH_REQUIRED', `A valid ${what} is required`, { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}
