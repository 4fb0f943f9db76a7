import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import worker from '../src/index';
import { parseTraceparent } from '../src/lib/trace';
import { registerRoutes } from '../src/routes';
import { clerkUserJson, signedClerkWebhook } from './helpers/clerk';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';

/** Stands in for the Analytics Engine dataset binding: keeps every data point written. */
const points: { indexes?: string[]; blobs?: string[]; doubles?: number[] }[] = [];
const METRICS = { writeDataPoint: (p: (typeof points)[number]) => void points.push(structuredClone(p)) };
const METRICS_TOKEN = 'metrics-token-for-observability-tests';

const db = useTestDatabase({ METRICS, METRICS_TOKEN, RESEND_API_KEY: 're_test_observability' });

/** Every JSON log line written (console.log/warn/error), parsed. */
let lines: Record<string, any>[] = [];
beforeEach(() => {
  lines = [];
  points.length = 0;
  const keep = (...args: unknown[]) => {
    try {
      lines.push(JSON.parse(String(args[0])));
    } catch {
      // not one of ours
    }
  };
  vi.spyOn(console, 'log').mockImplementation(keep);
  vi.spyOn(console, 'warn').mockImplementation(keep);
  vi.spyOn(console, 'error').mockImplementation(keep);
});
afterEach(() => vi.restoreAllMocks());

const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');

describe('W3C trace context', () => {
  it('a request continues the caller trace, its events carry it, and every queue handler run logs it', async () => {
    const trace = hex(16);
    const parentSpan = hex(8);
    const resend = fakeFetch({
      'POST https://api.resend.com/emails': () => Response.json({ name: 'application_error', message: 'down' }, { status: 500 }),
    });
    const id = `user_obs${hex(8)}`;
    const { body, headers } = await signedClerkWebhook(db.env.CLERK_WEBHOOK_SECRET as string, 'user.created', clerkUserJson({ id, email: `${id}@example.test` }));
    const r = await call(db.env, '/webhooks/v1/clerk', { method: 'POST', raw: body, headers: { ...headers, traceparent: `00-${trace}-${parentSpan}-01` } });
    expect(r.status).toBe(200);

    // The response names the server span: same trace, a new span id, the caller's sampled flag.
    const server = parseTraceparent(r.headers.get('traceparent'));
    expect(server).toMatchObject({ traceId: trace, flags: '01' });
    expect(server!.parentId).not.toBe(parentSpan);
    const requestLine = lines.find((l) => l.msg === 'request');
    expect(requestLine).toMatchObject({ traceId: trace, spanId: server!.parentId, route: expect.stringContaining('clerk'), status: 200 });

    // Stored with the outbox row and relayed on the envelope.
    const { rows } = await db.sql<{ id: string; trace_context: string }>(`select id, trace_context from outbox where event_name = 'user.created'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.trace_context).toBe(`00-${trace}-${server!.parentId}-01`);
    expect(db.events.messages.find((m) => m.id === rows[0]!.id)?.traceparent).toBe(rows[0]!.trace_context);

    // Through the real consumer: welcome-email fails (Resend down), welcome-notification succeeds.
    lines = [];
    await db.events.drain();
    const failed = lines.find((l) => l.msg === 'queue.handler_failed' && l.handler === 'welcome-email');
    expect(failed).toMatchObject({ traceId: trace, eventId: rows[0]!.id });
    expect(failed!.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(failed!.spanId).not.toBe(server!.parentId);
    expect(lines.filter((l) => l.traceId !== undefined).every((l) => l.traceId === trace)).toBe(true);
    // The outbound Resend call propagates the handler's span.
    const sent = resend.calls.find((c) => c.url.startsWith('https://api.resend.com/emails'));
    expect(parseTraceparent(sent?.headers.get('traceparent'))).toMatchObject({ traceId: trace, parentId: failed!.spanId });

    // One RED data point per handler run.
    const handlerPoints = points.filter((p) => p.blobs?.[0] === 'handler').map((p) => ({ event: p.blobs![1], handler: p.blobs![2], outcome: p.blobs![3], attempt: p.doubles![2] }));
    expect(handlerPoints).toEqual(
      expect.arrayContaining([
        { event: 'user.created', handler: 'welcome-email', outcome: 'failed', attempt: 1 },
        { event: 'user.created', handler: 'welcome-notification', outcome: 'ok', attempt: 1 },
      ]),
    );
    for (const p of points.filter((p) => p.blobs?.[0] === 'handler')) expect(p.doubles![1]).toBeGreaterThanOrEqual(0);
  });

  it('a malformed traceparent is ignored: the request succeeds and starts a new trace', async () => {
    for (const bad of ['garbage', `00-${'0'.repeat(32)}-${hex(8)}-01`, `ff-${hex(16)}-${hex(8)}-01`, `00-${hex(16).toUpperCase()}-${hex(8)}-01`, `00-${hex(16)}-${hex(8)}-01-extra`]) {
      const r = await call(db.env, '/healthz', { headers: { traceparent: bad } });
      expect(r.status).toBe(200);
      const server = parseTraceparent(r.headers.get('traceparent'));
      expect(server, bad).not.toBeNull();
      expect(bad.includes(server!.traceId)).toBe(false);
    }
  });

  it('every response carries traceparent, errors and unknown routes included, and each request gets its own trace', async () => {
    const ok = await call(db.env, '/healthz');
    const missing = await call(db.env, '/api/v1/no-such-route');
    const unauthenticated = await call(db.env, '/metrics');
    for (const r of [ok, missing, unauthenticated]) expect(r.headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(missing.status).toBe(404);
    expect(new Set([ok, missing, unauthenticated].map((r) => parseTraceparent(r.headers.get('traceparent'))!.traceId)).size).toBe(3);
    const warn = lines.find((l) => l.msg === 'request' && l.status === 404);
    expect(warn?.traceId).toBe(parseTraceparent(missing.headers.get('traceparent'))!.traceId);
  });

  it('a cron run starts its own trace', async () => {
    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: Date.now(), cron: '* * * * *' }), db.env, ctx);
    await waitOnExecutionContext(ctx);
    const done = lines.find((l) => l.msg === 'cron.done' && l.job === 'outbox-sweeper');
    expect(done?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(done?.spanId).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('RED data points (Analytics Engine)', () => {
  it('one data point per request: route pattern, method, status class and code, duration, cache, colo', async () => {
    const r = await call(db.env, '/healthz');
    expect(r.status).toBe(200);
    const missing = await call(db.env, '/api/v1/no-such-route');
    expect(missing.status).toBe(404);
    const requests = points.filter((p) => p.blobs?.[0] === 'request');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ indexes: ['/healthz'], blobs: ['request', '/healthz', 'GET', '2xx', expect.stringMatching(/^(hit|miss|none)$/), expect.any(String), ''] });
    expect(requests[0]!.doubles![0]).toBe(200);
    expect(requests[0]!.doubles![1]).toBeGreaterThanOrEqual(0);
    expect(requests[1]!.blobs!.slice(0, 4)).toEqual(['request', '/api/*', 'GET', '4xx']);
    expect(requests[1]!.doubles![0]).toBe(404);
  });

  it('a dataset that throws never fails the request', async () => {
    const env = { ...db.env, METRICS: { writeDataPoint: () => { throw new Error('dataset unavailable'); } } } as typeof db.env;
    const r = await call(env, '/healthz');
    expect(r.status).toBe(200);
    expect(lines.some((l) => l.msg === 'metrics.write_failed')).toBe(true);
  });
});

describe('error tracking hook', () => {
  it('an unhandled error is logged once with stack frames, route pattern and trace id, and counted', async () => {
    const app = createApp((a) => {
      registerRoutes(a);
      a.get('/boom/:id', () => {
        throw new TypeError('bad state');
      });
    });
    const trace = hex(16);
    const r = await call(db.env, '/boom/42', { app, headers: { traceparent: `00-${trace}-${hex(8)}-01` } });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INTERNAL_ERROR');
    const errors = lines.filter((l) => l.msg === 'request.error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ route: '/boom/:id', traceId: trace, error: { name: 'TypeError' } });
    expect(errors[0]!.stack).toMatch(/^\s+at /);
    expect(errors[0]!.stack).not.toContain('bad state');
    const point = points.find((p) => p.blobs?.[0] === 'request' && p.blobs[1] === '/boom/:id');
    expect(point?.blobs?.slice(3)).toEqual(['5xx', 'none', expect.any(String), 'TypeError']);
    expect(point?.doubles?.[0]).toBe(500);
  });
});
