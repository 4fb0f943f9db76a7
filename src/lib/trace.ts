import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/). Each unit of work — an HTTP request, one
 * queue handler run, one cron run — is a span with its own id inside a trace. The span in progress
 * travels with the async call chain (AsyncLocalStorage), so log lines, outbox rows and outbound calls
 * made anywhere below a door carry it without every function passing it on.
 */
export interface Span {
  /** 32 lowercase hex digits, shared by every span of the trace. */
  readonly traceId: string;
  /** 16 lowercase hex digits, this span's id. */
  readonly spanId: string;
  /** Trace flags (2 hex digits); "01" = sampled. */
  readonly flags: string;
  /** Whether a cache read served this unit of work ('miss' once any read missed); set by the cache helpers. */
  cache?: 'hit' | 'miss';
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The parent named by a `traceparent` header, or null when absent or malformed (then a new trace starts). */
export function parseTraceparent(header: string | null | undefined): { traceId: string; parentId: string; flags: string } | null {
  if (!header || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, parentId, flags, rest] = m;
  // Version ff is invalid; version 00 has exactly four fields; later versions may append fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return null;
  return { traceId: traceId!, parentId: parentId!, flags: flags! };
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomHex(bytes: number): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = '';
  for (const b of buf) out += HEX[b];
  return out;
}

/**
 * A new span: a child of `parent` (same trace id, its sampled flag), or the root of a new trace whose
 * sampled flag is drawn at `sampleRate`.
 */
export function startSpan(parent?: { traceId: string; flags: string } | null, sampleRate = 1): Span {
  if (parent) return { traceId: parent.traceId, spanId: randomHex(8), flags: parent.flags };
  let traceId = randomHex(16);
  if (traceId === ZERO_TRACE) traceId = randomHex(16);
  return { traceId, spanId: randomHex(8), flags: Math.random() < sampleRate ? '01' : '00' };
}

export function formatTraceparent(span: Span): string {
  return `00-${span.traceId}-${span.spanId}-${span.flags}`;
}

const store = new AsyncLocalStorage<Span>();

/** Run `work` as `span`: everything it awaits sees the span through `currentSpan()`. */
export function runInSpan<T>(span: Span, work: () => T): T {
  return store.run(span, work);
}

/** The span in progress, if any. */
export function currentSpan(): Span | undefined {
  return store.getStore();
}

/** `traceparent` of the span in progress, for outbound calls and stored events (undefined outside any span). */
export function currentTraceparent(): string | undefined {
  const span = store.getStore();
  return span ? formatTraceparent(span) : undefined;
}

/** Headers that propagate the span in progress to a downstream service (empty outside any span). */
export function traceHeaders(): Record<string, string> {
  const span = store.getStore();
  return span ? { traceparent: formatTraceparent(span) } : {};
}

/** Record a cache read in the span in progress: one miss makes the unit of work a miss. */
export function noteCacheRead(hit: boolean): void {
  const span = store.getStore();
  if (span && span.cache !== 'miss') span.cache = hit ? 'hit' : 'miss';
}
