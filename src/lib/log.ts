import { currentSpan } from './trace';

/**
 * Structured JSON logs (one line per event) for Workers Logs / Logpush. Never pass secrets or raw bodies.
 * A line written inside a span (request, queue handler run, cron run) carries its traceId and spanId.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let minRank = RANK.info;

/** Lines below `level` are dropped; warn and error are always written. Set once per isolate from LOG_LEVEL. */
export function setLogLevel(level: Level): void {
  minRank = Math.min(RANK[level], RANK.warn);
}

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (RANK[level] < minRank) return;
  const span = currentSpan();
  const line = JSON.stringify(
    span
      ? { level, msg, time: new Date().toISOString(), traceId: span.traceId, spanId: span.spanId, ...fields }
      : { level, msg, time: new Date().toISOString(), ...fields },
  );
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
