import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, waitOnExecutionContext } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { loadConfig, type Env } from '../src/config';
import { fetchClerkUser } from '../src/integrations/clerk';
import { createGeminiModel } from '../src/integrations/gemini';
import { publishToQstash } from '../src/integrations/qstash';
import { fetchRazorpayOrder } from '../src/integrations/razorpay';
import { phoneDeliveryFor, smsProviderFor } from '../src/durable/otp-delivery';
import worker from '../src/index';
import { parseTraceparent, runInSpan, startSpan } from '../src/lib/trace';
import { registerRoutes } from '../src/routes';
import { clerkUserJson, signedClerkWebhook } from './helpers/clerk';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { razorpayVars } from './helpers/razorpay';

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
    const handled = lines.find((l) => l.msg === 'queue.handled' && l.handler === 'welcome-notification');
    expect(handled).toMatchObject({ traceId: trace, eventId: rows[0]!.id, outcome: 'ok' });
    expect(handled!.spanId).not.toBe(failed!.spanId);
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
    // Browsers may send it and read it back.
    const cors = await call(db.env, '/healthz', { headers: { Origin: 'https://app.fairarena.test' } });
    expect(cors.headers.get('Access-Control-Expose-Headers')).toContain('traceparent');
    const warn = lines.find((l) => l.msg === 'request' && l.status === 404);
    expect(warn?.traceId).toBe(parseTraceparent(missing.headers.get('traceparent'))!.traceId);
  });

  it('an undeliverable message and a dead-lettered one are logged in the trace they carry', async () => {
    const trace = hex(16);
    const body = { id: crypto.randomUUID(), name: 'no.such.event', payload: {}, emittedAt: new Date().toISOString(), traceparent: `00-${trace}-${hex(8)}-01` };
    for (const queue of ['fairarena-events', 'fairarena-events-dlq']) {
      lines = [];
      const batch = createMessageBatch(queue, [{ id: 'm0', timestamp: new Date(), attempts: 1, body }]);
      const ctx = createExecutionContext();
      await worker.queue!(batch as never, db.env, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['m0']);
      expect(lines.find((l) => l.msg === 'queue.dead_letter')?.traceId, queue).toBe(trace);
    }
  });

  it('outbound calls to Clerk, Razorpay, Twilio, Gemini and QStash carry the current traceparent', async () => {
    const ok = () => Response.json({});
    const fake = fakeFetch({
      'GET https://api.clerk.com/*': ok,
      'GET https://api.razorpay.com/*': ok,
      'POST https://api.twilio.com/*': ok,
      'POST https://generativelanguage.googleapis.com/*': ok,
      'POST https://qstash.fake.test/*': () => Response.json({ messageId: 'msg_1' }),
    });
    const config = loadConfig({ ...db.env, ...razorpayVars, GEMINI_API_KEY: 'gemini-test-key', QSTASH_URL: 'https://qstash.fake.test', QSTASH_TOKEN: 'qstash-test-token' } as Env);
    const span = startSpan();
    await runInSpan(span, () =>
      Promise.allSettled([
        fetchClerkUser(config, 'user_trace'),
        fetchRazorpayOrder(config, 'order_trace'),
        smsProviderFor(phoneDeliveryFor(config)).sendSms('+15005550006', 'hello'),
        createGeminiModel(config, { systemInstruction: 'x', tools: [] }).generate([{ role: 'user', parts: [{ text: 'hi' }] }], {} as never),
        publishToQstash(config, { path: '/webhooks/v1/qstash/test', body: {} }),
      ]),
    );
    const traceparent = `00-${span.traceId}-${span.spanId}-${span.flags}`;
    const sentTo = (host: string) => fake.calls.find((c) => new URL(c.url).hostname === host);
    for (const host of ['api.clerk.com', 'api.razorpay.com', 'api.twilio.com', 'generativelanguage.googleapis.com']) {
      expect(sentTo(host)?.headers.get('traceparent'), host).toBe(traceparent);
    }
    // QStash forwards it to the callback, whose request then continues the trace.
    expect(sentTo('qstash.fake.test')?.headers.get('Upstash-Forward-traceparent')).toBe(traceparent);
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
    const r = await call(db.env, '/healthz', { cf: { colo: 'AMS' } } as Parameters<typeof call>[2]);
    expect(r.status).toBe(200);
    const missing = await call(db.env, '/api/v1/no-such-route');
    expect(missing.status).toBe(404);
    const requests = points.filter((p) => p.blobs?.[0] === 'request');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ indexes: ['/healthz'], blobs: ['request', '/healthz', 'GET', '2xx', expect.stringMatching(/^(hit|miss|none)$/), 'AMS', ''] });
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

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every family has one HELP and one
 * TYPE line before its samples, names and label names are valid, label values are properly escaped,
 * values are numbers, a family's samples are contiguous and no series repeats.
 */
function parsePrometheus(text: string): Map<string, { help: string; type: string; samples: { labels: Record<string, string>; value: number }[] }> {
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const families = new Map<string, { help: string; type: string; samples: { labels: Record<string, string>; value: number }[] }>();
  const closed = new Set<string>();
  let current: string | undefined;
  const seen = new Set<string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      expect(name, line).toMatch(NAME);
      if (current !== name) {
        if (current) closed.add(current);
        expect(closed.has(name!), `family ${name} split`).toBe(false);
        current = name;
      }
      const family = families.get(name!) ?? { help: '', type: '', samples: [] };
      families.set(name!, family);
      expect(family.samples, `${kind} after samples of ${name}`).toHaveLength(0);
      if (kind === 'HELP') {
        expect(family.help, `second HELP for ${name}`).toBe('');
        expect(rest, line).not.toBe('');
        expect(rest!.replace(/\\[\\n]/g, ''), line).not.toMatch(/\\/);
        family.help = rest!;
      } else {
        expect(family.type, `second TYPE for ${name}`).toBe('');
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(rest);
        family.type = rest!;
      }
      continue;
    }
    expect(line.startsWith('#'), `stray comment: ${line}`).toBe(false);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    expect(sample, `not a sample line: ${line}`).not.toBeNull();
    const [, name, , body, raw] = sample!;
    expect(name, `sample outside its family: ${line}`).toBe(current);
    const family = families.get(name!)!;
    expect(family.help && family.type, `sample before HELP/TYPE: ${line}`).toBeTruthy();
    const labels: Record<string, string> = {};
    if (body !== undefined) {
      const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < body.length) {
        LABEL.lastIndex = at;
        const m = LABEL.exec(body);
        expect(m, `bad labels: ${line}`).not.toBeNull();
        expect(m![1]!.startsWith('__'), line).toBe(false);
        expect(labels, `duplicate label: ${line}`).not.toHaveProperty(m![1]!);
        labels[m![1]!] = m![2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        at = LABEL.lastIndex;
      }
      expect(body.endsWith(','), line).toBe(false);
    }
    expect(raw, line).toMatch(/^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    expect(seen.has(series), `repeated series: ${line}`).toBe(false);
    seen.add(series);
    family.samples.push({ labels, value: Number(raw) });
  }
  return families;
}

describe('GET /metrics', () => {
  it('parses as Prometheus text and carries backlog, dead-letter, handler and job series with bounded labels', async () => {
    await db.sql(`delete from outbox where relayed_at is null`);
    await db.sql(`delete from dead_letters`);
    await db.sql(
      `insert into outbox (event_name, payload, created_at) values
         ('user.created', '{"userId":"a"}', now() - interval '5 minutes'), ('user.created', '{"userId":"b"}', now()),
         ('report.created', '{}', now() - interval '30 seconds')`,
    );
    await db.sql(
      `insert into dead_letters (event_id, event_name, handler, payload, error, attempts) values
         (gen_random_uuid(), 'user.created', 'welcome-email', '{}', 'x', 6), (gen_random_uuid(), 'user.created', 'welcome-email', '{}', 'x', 6),
         (gen_random_uuid(), 'user.created', 'welcome-notification', '{}', 'x', 6),
         (gen_random_uuid(), 'no.such "event"', null, '{}', 'malformed', 1), (gen_random_uuid(), 'another-bogus-name', 'x', '{}', 'malformed', 1)`,
    );
    await db.sql(
      `insert into processed_events (event_id, handler, processed_at) values
         (gen_random_uuid(), 'obs-handler', now() - interval '5 minutes'), (gen_random_uuid(), 'obs-handler', now()),
         (gen_random_uuid(), 'obs-handler', now() - interval '2 hours')`,
    );
    await db.sql(
      `insert into job_runs (job, started_at, finished_at, status) values
         ('obs-job', now() - interval '2 days', now() - interval '2 days', 'succeeded'),
         ('obs-job', now() - interval '1 day', now() - interval '1 day', 'failed')`,
    );
    const r = await call(db.env, '/metrics', { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(r.status).toBe(200);
    const families = parsePrometheus(String(r.body));
    const value = (name: string, labels: Record<string, string>) => families.get(name)?.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

    // The existing gauges are still there.
    for (const name of ['fairarena_info', 'fairarena_outbox_pending', 'fairarena_outbox_pending_by_event', 'fairarena_dead_letters', 'fairarena_users']) {
      expect(families.get(name)?.type, name).toBe('gauge');
    }
    expect(value('fairarena_outbox_pending_by_event', { event_type: 'user.created' })).toBe(2);
    expect(value('fairarena_outbox_oldest_pending_seconds_by_event', { event_type: 'user.created' })).toBeGreaterThanOrEqual(290);
    expect(value('fairarena_outbox_oldest_pending_seconds_by_event', { event_type: 'report.created' })).toBeLessThan(290);
    expect(value('fairarena_dead_letters_by_handler', { event_type: 'user.created', handler: 'welcome-email' })).toBe(2);
    expect(value('fairarena_dead_letters_by_handler', { event_type: 'user.created', handler: 'welcome-notification' })).toBe(1);
    // Names outside the catalog collapse into one bounded series.
    expect(value('fairarena_dead_letters_by_handler', { event_type: 'unknown', handler: 'none' })).toBe(2);
    expect(value('fairarena_dead_letters_by_event', { event_type: 'unknown' })).toBe(2);
    expect(String(r.body)).not.toContain('bogus');
    expect(value('fairarena_events_processed_last_hour', { handler: 'obs-handler' })).toBe(2);
    expect(value('fairarena_job_runs', { job: 'obs-job', status: 'failed' })).toBe(1);
    expect(value('fairarena_job_runs', { job: 'obs-job', status: 'succeeded' })).toBe(1);
    expect(value('fairarena_job_last_run_status', { job: 'obs-job', status: 'failed' })).toBe(1);
    expect(value('fairarena_job_last_run_status', { job: 'obs-job', status: 'succeeded' })).toBeUndefined();
    expect(value('fairarena_job_last_run_timestamp_seconds', { job: 'obs-job' })).toBeGreaterThan(Date.now() / 1000 - 2 * 86400);
  });

  it('the strict reader refuses malformed exposition text', () => {
    expect(() => parsePrometheus('fairarena_x 1\n')).toThrow(); // no HELP/TYPE
    expect(() => parsePrometheus('# HELP a b\n# TYPE a gauge\na{l="x} 1\n')).toThrow(); // unterminated label value
    expect(() => parsePrometheus('# HELP a-b c\n# TYPE a-b gauge\na-b 1\n')).toThrow(); // invalid name
    expect(() => parsePrometheus('# HELP a b\n# TYPE a gauge\na one\n')).toThrow(); // not a number
    expect(() => parsePrometheus('# HELP a b\n# TYPE a gauge\na 1\na 2\n')).toThrow(); // repeated series
  });
});
