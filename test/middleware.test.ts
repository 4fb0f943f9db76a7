import { createRoute, z } from '@hono/zod-openapi';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { createRouter } from '../src/router';
import { AppError } from '../src/lib/errors';
import { describeError, stackFrames } from '../src/lib/log';
import { registerRoutes } from '../src/routes';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';

const db = useTestDatabase();

// A test-only router mounted on an otherwise identical app, to exercise validation and error paths.
const probe = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/echo',
      request: { body: { required: true, content: { 'application/json': { schema: z.object({ name: z.string().min(1) }) } } } },
      responses: { 200: { description: 'echo' } },
    }),
    (c) => c.json({ data: c.req.valid('json') }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/list',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }) },
      responses: { 200: { description: 'list' } },
    }),
    (c) => c.json({ data: { limit: c.req.valid('query').limit } }, 200),
  );
probe.get('/boom', () => {
  throw new Error('secret-internal-detail');
});
probe.get('/thrown-value', () => {
  throw { secret: 'not an Error at all' };
});
probe.get('/websocket-event', () => {
  // What the database driver rejects with when its WebSocket never opens: the ErrorEvent itself.
  throw { type: 'error', message: 'Uncaught TypeError: Failed to establish the WebSocket connection: expected 101', error: null };
});
probe.get('/conflict', () => {
  throw new AppError('CONFLICT', 'Already exists', { details: { suggestion: 'x-1' } });
});
const app = createApp((a) => {
  registerRoutes(a);
  a.route('/api/v1/_probe', probe);
});

afterEach(() => vi.restoreAllMocks());

describe('request id', () => {
  it('generates an X-Request-Id and puts it in error envelopes', async () => {
    const r = await call(db.env, '/nope', { app });
    expect(r.status).toBe(404);
    const id = r.headers.get('X-Request-Id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body).toEqual({ error: { code: 'NOT_FOUND', message: 'No route for GET /nope', requestId: id } });
  });

  it('echoes a sane client id and replaces an unsafe one', async () => {
    const ok = await call(db.env, '/healthz', { app, headers: { 'X-Request-Id': 'client-abc_123' } });
    expect(ok.headers.get('X-Request-Id')).toBe('client-abc_123');
    const bad = await call(db.env, '/healthz', { app, headers: { 'X-Request-Id': 'evil <script>' } });
    expect(bad.headers.get('X-Request-Id')).not.toContain('script');
    const long = await call(db.env, '/healthz', { app, headers: { 'X-Request-Id': 'a'.repeat(200) } });
    expect(long.headers.get('X-Request-Id')).toHaveLength(36);
  });
});

describe('anything thrown that is not an Error', () => {
  it('is answered in the envelope like any error: 500, or 503 when it says the database is out of reach', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const value = await call(db.env, '/api/v1/_probe/thrown-value', { app });
    expect(value.status).toBe(500);
    expect(value.body.error).toMatchObject({ code: 'INTERNAL_ERROR', requestId: value.headers.get('X-Request-Id') });
    expect(JSON.stringify(value.body)).not.toContain('not an Error');
    const event = await call(db.env, '/api/v1/_probe/websocket-event', { app });
    expect(event.status).toBe(503);
    expect(event.body.error.code).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('security headers', () => {
  it('are on success, error and not-found responses', async () => {
    for (const path of ['/healthz', '/nope', '/api/v1/_probe/boom']) {
      const { headers } = await call(db.env, path, { app });
      expect(headers.get('X-Content-Type-Options')).toBe('nosniff');
      expect(headers.get('X-Frame-Options')).toBe('DENY');
      expect(headers.get('Referrer-Policy')).toBe('strict-origin-when-cross-origin');
      expect(headers.get('Permissions-Policy')).toBe('camera=(), microphone=(), geolocation=()');
      expect(headers.get('Content-Security-Policy')).toContain("default-src 'none'");
      expect(headers.get('Strict-Transport-Security')).toContain('max-age=');
      expect(headers.get('Cross-Origin-Resource-Policy')).toBe('same-site');
      expect(headers.get('Vary')).toBe('Origin');
      // Headers for HTML documents and retired browsers are not sent with JSON.
      for (const name of ['Cross-Origin-Opener-Policy', 'Origin-Agent-Cluster', 'X-XSS-Protection', 'X-Download-Options']) {
        expect([name, headers.get(name)]).toEqual([name, null]);
      }
    }
  });

  it('the docs page keeps its own CSP and is isolated from other origins\' windows', async () => {
    const { headers } = await call(db.env, '/api-docs', { app });
    expect(headers.get('Content-Security-Policy')).toContain("script-src 'self'");
    expect(headers.get('Cross-Origin-Opener-Policy')).toBe('same-origin');
    expect(headers.get('X-Frame-Options')).toBe('DENY');
  });
});

describe('CORS', () => {
  it('allows a listed origin, including preflight', async () => {
    const pre = await call(db.env, '/api/v1/_probe/echo', {
      app,
      method: 'OPTIONS',
      headers: { Origin: 'https://app.fairarena.test', 'Access-Control-Request-Method': 'POST' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('Access-Control-Allow-Origin')).toBe('https://app.fairarena.test');
    expect(pre.headers.get('Access-Control-Allow-Credentials')).toBe('true');
    const get = await call(db.env, '/healthz', { app, headers: { Origin: 'https://app.fairarena.test' } });
    expect(get.headers.get('Access-Control-Allow-Origin')).toBe('https://app.fairarena.test');
    expect(get.headers.get('Access-Control-Expose-Headers')).toContain('X-Request-Id');
  });

  it('refuses an unlisted origin with 403 in the envelope', async () => {
    const r = await call(db.env, '/api/v1/_probe/list', { app, headers: { Origin: 'https://evil.example' } });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('FORBIDDEN');
    expect(r.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('bodies and validation', () => {
  it('malformed JSON → 400 VALIDATION_ERROR', async () => {
    const r = await call(db.env, '/api/v1/_probe/echo', { app, method: 'POST', raw: '{"name":', headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
    expect(r.body.error.requestId).toBeTruthy();
  });

  it('schema violations → 400 with the issues listed', async () => {
    const r = await call(db.env, '/api/v1/_probe/echo', { app, method: 'POST', json: { name: '' } });
    expect(r.status).toBe(400);
    expect(r.body.error.details.target).toBe('json');
    expect(r.body.error.details.issues[0].path).toBe('name');
  });

  it('oversized body → 413 PAYLOAD_TOO_LARGE (by Content-Length and by stream)', async () => {
    const env = { ...db.env, MAX_BODY_BYTES: '64' };
    const big = JSON.stringify({ name: 'x'.repeat(100) });
    const r = await call(env, '/api/v1/_probe/echo', { app, method: 'POST', raw: big, headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const stream = new Blob([big]).stream();
    const s = await call(env, '/api/v1/_probe/echo', { app, method: 'POST', raw: stream, headers: { 'Content-Type': 'application/json' } });
    expect(s.status).toBe(413);
  });

  it('duplicate query parameters are a clear 400, never a crash (HPP)', async () => {
    const one = await call(db.env, '/api/v1/_probe/list?limit=5', { app });
    expect(one.body).toEqual({ data: { limit: 5 } });
    const dup = await call(db.env, '/api/v1/_probe/list?limit=5&limit=500', { app });
    expect(dup.status).toBe(400);
    expect(dup.body.error.code).toBe('VALIDATION_ERROR');
    expect(dup.body.error.details.issues[0].path).toBe('limit');
  });
});

describe('errors', () => {
  it('a thrown error → 500 INTERNAL_ERROR without stack or message leak, and is logged', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const r = await call(db.env, '/api/v1/_probe/boom', { app });
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: { code: 'INTERNAL_ERROR', message: 'Internal server error', requestId: r.headers.get('X-Request-Id') } });
    expect(JSON.stringify(r.body)).not.toContain('secret-internal-detail');
    expect(errors.mock.calls.flat().join('\n')).toContain('secret-internal-detail');
  });

  it('an AppError keeps its code, status and details', async () => {
    const r = await call(db.env, '/api/v1/_probe/conflict', { app });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'CONFLICT', message: 'Already exists', details: { suggestion: 'x-1' } });
  });

  it('a misconfigured worker answers 500 INTERNAL_ERROR and logs the bad key (not its value)', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const env = { ...db.env, DATABASE_URL: 'mysql://secret-password@db', ENVIRONMENT: 'nonsense' };
    const r = await call(env, '/healthz', { app });
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INTERNAL_ERROR');
    const logged = errors.mock.calls.flat().join('\n');
    expect(logged).toContain('config.invalid');
    expect(logged).toContain('DATABASE_URL');
    expect(logged).toContain('ENVIRONMENT');
    expect(logged).not.toContain('secret-password');
  });

  it('production requires each of its secrets, and names the missing one', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const production = { ...db.env, ENVIRONMENT: 'production', NEON_LOCAL_PROXY: '', RAZORPAY_WEBHOOK_SECRET: 'rzp-webhook-secret' };
    expect((await call(production, '/openapi.json', { app })).status).toBe(200);
    const required = ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'CLERK_JWT_KEY', 'CLERK_SECRET_KEY', 'CLERK_PUBLISHABLE_KEY', 'CLERK_AUTHORIZED_PARTIES', 'OTP_HMAC_SECRET', 'STEPUP_TOKEN_SECRET', 'NEWSLETTER_TOKEN_SECRET'];
    // Every webhook door checks signatures: production refuses to start without their secrets.
    required.push('RAZORPAY_WEBHOOK_SECRET', 'CLERK_WEBHOOK_SECRET', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY');
    for (const key of required) {
      errors.mockClear();
      const r = await call({ ...production, [key]: '' }, '/openapi.json', { app });
      expect([key, r.status]).toEqual([key, 500]);
      expect(errors.mock.calls.flat().join('\n')).toContain(key);
    }
  });

  it('a body that is not JSON is a 400 in the envelope, not a 500 (415 from the validator)', async () => {
    const r = await call(db.env, '/api/v1/_probe/echo', { app, method: 'POST', raw: 'name=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect([r.status, r.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    const none = await call(db.env, '/api/v1/_probe/echo', { app, method: 'POST', raw: 'name=x' });
    expect(none.status).toBe(400);
  });

  it('a failed query is logged as its PostgreSQL error, never with the query parameters', () => {
    const err = Object.assign(new Error('Failed query: insert into "users" ("id", "email") values ($1, $2)\nparams: user_1,alice@example.test'), {
      name: 'DrizzleQueryError',
      cause: Object.assign(new Error('duplicate key value violates unique constraint "users_email_active_uq"'), { code: '23505' }),
    });
    const described = describeError(err);
    expect(described).toEqual({ name: 'DatabaseError', message: 'duplicate key value violates unique constraint "users_email_active_uq"', code: '23505' });
    expect(JSON.stringify(described) + stackFrames(err)).not.toContain('alice@example.test');
  });
});

describe('maintenance mode', () => {
  it('blocks /api/* with 503 MAINTENANCE but never /healthz or webhooks', async () => {
    const env = { ...db.env, MAINTENANCE_MODE: 'true' };
    const api = await call(env, '/api/v1/_probe/list', { app });
    expect(api.status).toBe(503);
    expect(api.body.error.code).toBe('MAINTENANCE');
    expect(api.headers.get('Retry-After')).toBeTruthy();
    expect((await call(env, '/healthz', { app })).status).toBe(200);
    // webhooks are not behind the gate: an unknown webhook path is a plain 404, not 503
    expect((await call(env, '/webhooks/v1/unknown', { app, method: 'POST' })).body.error.code).toBe('NOT_FOUND');
  });
});

describe('global rate limit', () => {
  const strict = () => ({ ...db.env, GLOBAL_RATE_LIMITER: (env as unknown as { TEST_STRICT_RATE_LIMITER: RateLimit }).TEST_STRICT_RATE_LIMITER });

  it('limits per CF-Connecting-IP with 429 + Retry-After, ignoring X-Forwarded-For', async () => {
    const limited = strict(); // 3 requests per 60 s
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(limited, '/api/v1/_probe/list', { app, ip, headers: { 'X-Forwarded-For': `10.0.0.${i}` } });
      statuses.push(r.status);
      if (r.status === 429) {
        expect(r.body.error.code).toBe('RATE_LIMITED');
        expect(Number(r.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    // another client is unaffected; /healthz and /livez are exempt for the limited one
    expect((await call(limited, '/api/v1/_probe/list', { app })).status).toBe(200);
    expect((await call(limited, '/healthz', { app, ip })).status).toBe(200);
    expect((await call(limited, '/livez', { app, ip })).status).toBe(200);
  });

  it('an IPv6 /64 is one client', async () => {
    const limited = strict();
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) statuses.push((await call(limited, '/api/v1/_probe/list', { app, ip: `${prefix}::${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('costs no network round trip: a request that needs no I/O sends no fetch (no Redis, no database)', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    expect((await call(db.env, '/livez', { app })).status).toBe(200);
    expect((await call(db.env, '/api/v1/no/such/route', { app })).status).toBe(404);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('lets traffic through and logs when the limiter fails', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const broken: RateLimit = { limit: async () => { throw new Error('rate limiter unavailable'); } };
    const env2 = { ...db.env, GLOBAL_RATE_LIMITER: broken };
    for (let i = 0; i < 3; i++) expect((await call(env2, '/api/v1/_probe/list', { app, ip: '203.0.113.250' })).status).toBe(200);
    expect(warn.mock.calls.flat().join('\n')).toContain('ratelimit.unavailable');
  });
});

describe('request log', () => {
  const requestLines = (...spies: { mock: { calls: unknown[][] } }[]) =>
    spies.flatMap((s) => s.mock.calls.flat().map(String)).filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l));

  it('samples successful request lines at LOG_REQUEST_SAMPLE_RATE but always logs failed ones', async () => {
    const logs = vi.spyOn(console, 'log').mockImplementation(() => {});
    const warns = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const quiet = { ...db.env, LOG_REQUEST_SAMPLE_RATE: '0' };
    for (let i = 0; i < 5; i++) expect((await call(quiet, '/livez', { app })).status).toBe(200);
    expect((await call(quiet, '/api/v1/no/such/route', { app })).status).toBe(404);
    expect(requestLines(logs, warns).map((l) => l.status)).toEqual([404]);
    // The default writes every request line.
    for (let i = 0; i < 3; i++) await call(db.env, '/livez', { app });
    expect(requestLines(logs, warns).filter((l) => l.status === 200)).toHaveLength(3);
  });

  it('LOG_LEVEL=warn drops info lines and keeps warnings', async () => {
    const logs = vi.spyOn(console, 'log').mockImplementation(() => {});
    const warns = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env2 = { ...db.env, LOG_LEVEL: 'warn' };
    await call(env2, '/livez', { app });
    await call(env2, '/api/v1/no/such/route', { app });
    expect(logs).not.toHaveBeenCalled();
    expect(requestLines(warns).map((l) => l.status)).toEqual([404]);
    await call(db.env, '/livez', { app }); // the level follows the env of each request
    expect(requestLines(logs).map((l) => l.status)).toEqual([200]);
  });

  it('records the route pattern, never the concrete path (paths carry invite and feedback codes)', async () => {
    const logs = vi.spyOn(console, 'log').mockImplementation(() => {});
    const warns = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const secret = 'SeCrEtInViTeCoDe0123456789abcdefghijkl';
    await call(db.env, `/api/v1/team/invite/${secret}?token=${secret}`, { app });
    await call(db.env, `/no/such/${secret}`, { app });
    const lines = [...logs.mock.calls, ...warns.mock.calls].flat().map(String).filter((l) => l.includes('"msg":"request"'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain(secret);
    expect(lines.join('\n')).toContain('"route":"/api/v1/team/invite/:code"');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: expect.any(String), method: 'GET', status: expect.any(Number), ms: expect.any(Number), requestId: expect.any(String) });
  });
});
