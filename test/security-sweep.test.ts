import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useTestDatabase } from './helpers/db';
import { fakeFetch, type FakeFetch } from './helpers/fake-fetch';
import { call, type CallResult } from './helpers/http';
import { accessOf, openApiDocument, operations, type OpenApiParameter, type Operation } from './helpers/openapi';
import { razorpayVars } from './helpers/razorpay';
import { signUp } from './helpers/users';

// Every operation of /openapi.json, called anonymously: what the document says about access is what the worker
// does. A route added without its session guard, or marked public while it refuses anonymous callers, fails here.

const ADMIN_TOKEN = 'sweep-admin-token-0123456789abcdef';
const METRICS_TOKEN = 'sweep-metrics-token-0123456789abcdef';
// Every credential the routes check is configured, so an anonymous call meets the check rather than "not configured".
const db = useTestDatabase({ ...razorpayVars, ADMIN_TOKEN, METRICS_TOKEN });

type ErrorBody = { error?: { code?: string } };

let outbound: FakeFetch;
beforeEach(() => {
  outbound = fakeFetch(); // no anonymous call may reach a third party: any attempt answers 599 and shows below
});
afterEach(() => vi.restoreAllMocks());

/** A value the parameter's schema accepts: a uuid, or lower-case letters and digits of an allowed length. */
function plausible(p: OpenApiParameter): string {
  if (p.schema?.format === 'uuid') return crypto.randomUUID();
  const min = Math.max(p.schema?.minLength ?? 1, 12);
  const value = `sweep${crypto.randomUUID().replaceAll('-', '')}`.padEnd(min, '0');
  return value.slice(0, p.schema?.maxLength ?? value.length);
}

async function anonymous({ method, path, op }: Operation): Promise<CallResult<ErrorBody>> {
  const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const param = op.parameters?.find((p) => p.in === 'path' && p.name === name);
    return encodeURIComponent(param ? plausible(param) : name);
  });
  // A minimal body: the smallest JSON a client might send. Guards come before validation, so it never decides a 401.
  // A WebSocket operation (101) is asked for an upgrade, as a browser would.
  const headers: Record<string, string> = '101' in op.responses ? { Upgrade: 'websocket' } : {};
  return call<ErrorBody>(db.env, url, { method: method.toUpperCase(), headers, ...(op.requestBody ? { json: {} } : {}) });
}

const label = ({ method, path, op }: Operation) => `${method.toUpperCase()} ${path} (${op.operationId})`;

describe('security sweep over /openapi.json', () => {
  it('every operation has an operationId and documents at least one 4xx', async () => {
    for (const operation of operations(await openApiDocument(db.env))) {
      expect(operation.op.operationId, label(operation)).toBeTruthy();
      expect(Object.keys(operation.op.responses).some((s) => /^4\d\d$/.test(s)), label(operation)).toBe(true);
    }
  });

  it('session operations answer an anonymous call with 401 AUTH_REQUIRED in the envelope', async () => {
    const session = operations(await openApiDocument(db.env)).filter((o) => accessOf(o.op) === 'session');
    expect(session.length).toBeGreaterThan(70);
    for (const operation of session) {
      const r = await anonymous(operation);
      expect([label(operation), r.status, r.body.error?.code]).toEqual([label(operation), 401, 'AUTH_REQUIRED']);
      expect(r.headers.get('X-Request-Id'), label(operation)).toBeTruthy();
    }
    expect(outbound.calls).toEqual([]);
  });

  it('public operations never answer an anonymous call with 401 AUTH_REQUIRED, and answer as documented', async () => {
    const open = operations(await openApiDocument(db.env)).filter((o) => accessOf(o.op) === 'public');
    expect(open.length).toBeGreaterThan(10);
    for (const operation of open) {
      const r = await anonymous(operation);
      expect([label(operation), r.status === 401 && r.body.error?.code === 'AUTH_REQUIRED']).toEqual([label(operation), false]);
      expect(Object.keys(operation.op.responses), `${label(operation)} answered ${r.status}`).toContain(String(r.status));
    }
    expect(outbound.calls).toEqual([]);
  });

  it('operator, metrics, stream-ticket and webhook operations refuse an anonymous call with their documented 401', async () => {
    const guarded = operations(await openApiDocument(db.env)).filter((o) => accessOf(o.op) === 'credential');
    expect(guarded.map((o) => o.op.operationId).sort()).toEqual([
      'admin.deadLetter.list',
      'admin.deadLetter.replay',
      'admin.deadLetter.replayAll',
      'notification.stream.open',
      'system.metrics',
      'webhook.clerk',
      'webhook.github',
      'webhook.qstash.paymentExpiry',
      'webhook.razorpay',
    ]);
    for (const operation of guarded) {
      const r = await anonymous(operation);
      expect([label(operation), r.status, r.body.error?.code]).toEqual([label(operation), 401, 'AUTH_REQUIRED']);
      expect(operation.op.responses, label(operation)).toHaveProperty('401');
    }
  });

  it('a path that matches no route under a guarded area answers like the area: 401 without access, 404 with it', async () => {
    const user = await signUp(db);
    for (const path of ['/api/v1/settings/nope', '/api/v1/notifications/nope/deeper', '/api/v1/reports/nope', '/api/v1/ai/nope']) {
      const anonymous = await call<ErrorBody>(db.env, path);
      expect([path, anonymous.status, anonymous.body.error?.code]).toEqual([path, 401, 'AUTH_REQUIRED']);
      const signedIn = await call<ErrorBody>(db.env, path, { token: user.token });
      expect([path, signedIn.status, signedIn.body.error?.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
    expect((await call<ErrorBody>(db.env, '/admin/nope', { method: 'POST' })).status).toBe(401);
    const operator = await call<ErrorBody>(db.env, '/admin/nope', { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect([operator.status, operator.body.error?.code]).toEqual([404, 'NOT_FOUND']);
  });
});
