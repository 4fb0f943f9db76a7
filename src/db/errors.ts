import { AppError } from '../lib/errors';

/**
 * Whether a thrown value means "the database cannot serve right now" (unreachable, refusing, hanging, out of
 * connections, shutting down) rather than a bug or a constraint violation. The HTTP door answers these with 503
 * and Retry-After; everything else that escapes is a 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const x = e as { name?: string; code?: unknown; message?: unknown; cause?: unknown; sourceError?: unknown };
    const code = typeof x.code === 'string' ? x.code : '';
    // SQLSTATE classes: 08 connection exception, 53 insufficient resources (53300 too many connections),
    // 57P01-57P05 shutdown / cannot connect now / idle timeouts, 57014 query cancelled (statement timeout).
    if (/^(08|53)/.test(code) || /^57P0\d$/.test(code) || code === '57014') return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
    if (x.name === 'TimeoutError' || x.name === 'AbortError') return true;
    const message = typeof x.message === 'string' ? x.message : '';
    if (UNAVAILABLE_MESSAGES.test(message)) return true;
    e = x.sourceError ?? x.cause;
  }
  return false;
}

/** Seconds a client should wait before retrying while the database is unavailable. */
const DB_RETRY_AFTER_SECONDS = 5;

/** The answer to "the database cannot serve right now": 503 with Retry-After (`headers` added to it). */
export function databaseUnavailable(headers: Record<string, string> = {}): AppError {
  return new AppError('SERVICE_UNAVAILABLE', 'The service is temporarily unavailable, please retry shortly', {
    headers: { ...headers, 'Retry-After': String(DB_RETRY_AFTER_SECONDS) },
  });
}

// What the Neon driver (HTTP and WebSocket paths) and its pg pool say when the server is out of reach.
const UNAVAILABLE_MESSAGES =
  /Error connecting to database|Server error \(HTTP status 5\d\d\)|timeout exceeded when trying to connect|Connection terminated|Query read timeout|connection (timeout|refused|closed)|WebSocket (connection|was closed|error)|fetch failed|Network connection lost/i;

/**
 * Data exceptions only a client's value causes: text the server cannot store (U+0000 in text or jsonb, a
 * character outside the encoding), text too long for its column, a date or time it cannot represent. The rest of
 * class 22 (numeric overflow, division by zero, a bad cast) is as likely our own mistake, so it stays a 500.
 */
const CLIENT_DATA_EXCEPTIONS = new Set(['22021', '22P05', '22001', '22007', '22008']);

/** The SQLSTATE of a data exception a client's value caused (CLIENT_DATA_EXCEPTIONS), or undefined: a 400, not a bug. */
export function dataExceptionCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const x = e as { code?: unknown; cause?: unknown; sourceError?: unknown };
    if (typeof x.code === 'string' && CLIENT_DATA_EXCEPTIONS.has(x.code)) return x.code;
    e = x.sourceError ?? x.cause;
  }
  return undefined;
}

/** PostgreSQL unique violation (SQLSTATE 23505), optionally on a named constraint/index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const pg = e as { code?: string; constraint?: string };
    if (pg.code === '23505') return constraint === undefined || pg.constraint === constraint;
  }
  return false;
}
