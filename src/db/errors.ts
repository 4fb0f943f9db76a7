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

// What the Neon driver (HTTP and WebSocket paths) and its pg pool say when the server is out of reach.
const UNAVAILABLE_MESSAGES =
  /Error connecting to database|Server error \(HTTP status 5\d\d\)|timeout exceeded when trying to connect|Connection terminated|Query read timeout|connection (timeout|refused|closed)|WebSocket (connection|was closed|error)|fetch failed|Network connection lost/i;

/**
 * The SQLSTATE of a PostgreSQL data exception (class 22: a value the server cannot take, such as U+0000 in text
 * or an out-of-range date), or undefined. Such a value came from the client, so it is a 400, not a bug; a
 * constraint violation (class 23) that escapes a service still is one.
 */
export function dataExceptionCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const x = e as { code?: unknown; cause?: unknown; sourceError?: unknown };
    if (typeof x.code === 'string' && /^22[0-9A-Z]{3}$/.test(x.code)) return x.code;
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
