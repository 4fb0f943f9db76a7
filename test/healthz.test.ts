import { afterEach, describe, expect, it, vi } from 'vitest';
import { env as workerEnv } from 'cloudflare:workers';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

describe('GET /healthz', () => {
  it('200 with database and cache ok', async () => {
    const r = await call(db.env, '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { status: 'ok', checks: { database: 'ok', cache: 'ok' } } });
    expect(r.headers.get('Cache-Control')).toBe('no-store');
  });

  it('503 when the database is unreachable', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env = { ...db.env, DATABASE_URL: db.url.replace(/\/[^/]+$/, '/no_such_database') };
    const r = await call(env, '/healthz');
    expect(r.status).toBe(503);
    expect(r.body.data).toEqual({ status: 'error', checks: { database: 'error', cache: 'ok' } });
  });

  it('200 degraded when only the cache is down (the API still serves from the database)', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env = { ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' };
    const r = await call(env, '/healthz');
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ status: 'degraded', checks: { database: 'ok', cache: 'error' } });
  });

  it('is never blocked by maintenance mode or the rate limit', async () => {
    const strict = (workerEnv as unknown as { TEST_STRICT_RATE_LIMITER: RateLimit }).TEST_STRICT_RATE_LIMITER; // 3 per 60 s
    const env = { ...db.env, MAINTENANCE_MODE: 'true', GLOBAL_RATE_LIMITER: strict };
    for (let i = 0; i < 5; i++) expect((await call(env, '/healthz', { ip: '192.0.2.7' })).status).toBe(200);
  });
});

describe('API docs', () => {
  it('GET /openapi.json describes the routes from their zod schemas', async () => {
    const r = await call(db.env, '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(r.body.paths['/healthz'].get.responses).toHaveProperty('503');
    expect(r.body.components.schemas.Health).toBeTruthy();
  });

  it('GET /api-docs serves the UI and every asset it loads from this worker (no CDN), outside production only', async () => {
    const dev = await call(db.env, '/api-docs');
    expect(dev.status).toBe(200);
    expect(dev.headers.get('Content-Type')).toContain('text/html');
    const csp = dev.headers.get('Content-Security-Policy')!;
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toMatch(/https?:|\*/); // no other origin may serve code, styles or images
    const html = String(dev.body);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.sort()).toEqual(['/api-docs/init.js', '/api-docs/swagger-ui-bundle.js', '/api-docs/swagger-ui.css']);
    const types: Record<string, string> = { css: 'text/css', js: 'text/javascript' };
    for (const ref of refs) {
      const asset = await call(db.env, ref);
      expect([ref, asset.status]).toEqual([ref, 200]);
      expect(asset.headers.get('Content-Type')).toContain(types[ref.split('.').pop()!]);
      expect(asset.headers.get('Content-Security-Policy')).toBe(csp);
    }
    expect(String((await call(db.env, '/api-docs/swagger-ui-bundle.js')).body)).toContain('SwaggerUIBundle');
    expect(String((await call(db.env, '/api-docs/swagger-ui.css')).body)).toContain('.swagger-ui');
    expect(String((await call(db.env, '/api-docs/init.js')).body)).toContain("url: '/openapi.json'");

    const prodEnv = { ...db.env, ENVIRONMENT: 'production', NEON_LOCAL_PROXY: '', RAZORPAY_WEBHOOK_SECRET: 'rzp-webhook-secret' };
    for (const path of ['/api-docs', ...refs]) {
      const prod = await call(prodEnv, path);
      expect([path, prod.status, prod.body.error.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
  });
});

describe('GET /metrics', () => {
  const token = 'metrics-secret-token';

  it('serves database-derived gauges in Prometheus format to the bearer of METRICS_TOKEN', async () => {
    await db.sql(`insert into outbox (event_name, payload, created_at) values ('user.created', '{"userId":"u"}', now() - interval '2 minutes')`);
    const r = await call({ ...db.env, METRICS_TOKEN: token }, '/metrics', { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('Content-Type')).toContain('text/plain; version=0.0.4');
    const text = String(r.body);
    expect(text).toContain('# TYPE fairarena_outbox_pending gauge');
    expect(text).toMatch(/^fairarena_outbox_pending [1-9]\d*$/m);
    expect(Number(text.match(/^fairarena_outbox_oldest_pending_seconds (\d+)$/m)?.[1])).toBeGreaterThanOrEqual(110);
    expect(text).toContain('fairarena_info{environment="test"} 1');
  });

  it('401 for a missing or wrong token, 404 when metrics are not configured', async () => {
    const env = { ...db.env, METRICS_TOKEN: token };
    expect((await call(env, '/metrics')).status).toBe(401);
    expect((await call(env, '/metrics', { headers: { Authorization: 'Bearer metrics-secret-tokem' } })).status).toBe(401);
    expect((await call(env, '/metrics', { headers: { Authorization: `Bearer ${token}x` } })).status).toBe(401);
    const off = await call(db.env, '/metrics', { headers: { Authorization: `Bearer ${token}` } });
    expect([off.status, off.body.error.code]).toEqual([404, 'NOT_FOUND']);
  });
});
