/** Structured JSON logs (one line per event) for Workers Logs / Logpush. Never pass secrets or raw bodies. */
type Level = 'debug' | 'info' | 'warn' | 'error';

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/**
 * A compact, safe description of an unknown thrown value. A failed Drizzle query's message embeds the
 * SQL and its parameters (emails, names…): describe the PostgreSQL error underneath instead, so no
 * parameter reaches a log line, outbox.last_error or dead_letters.
 */
export function describeError(err: unknown): { name: string; message: string; code?: string } {
  if (err instanceof Error) {
    if (err.name === 'DrizzleQueryError' || err.message.startsWith('Failed query:')) {
      const cause = err.cause as { message?: string; code?: string } | undefined;
      return { name: 'DatabaseError', message: cause?.message ?? 'query failed', ...(cause?.code ? { code: cause.code } : {}) };
    }
    return { name: err.name, message: err.message };
  }
  return { name: 'NonError', message: String(err) };
}

/** Stack frames only: a stack starts with the (possibly multi-line) message, which may carry query parameters. */
export function stackFrames(err: unknown): string | undefined {
  return err instanceof Error && err.stack ? err.stack.split('\n').filter((line) => /^\s+at /.test(line)).join('\n') : undefined;
}
