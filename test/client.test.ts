import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFairArenaClient, type ApiError, type FairArenaClient, type Schemas } from '../clients/typescript/src';
import { useTestDatabase } from './helpers/db';
import { BASE, workerFetch } from './helpers/http';
import { FakeRazorpay, razorpayVars, RZP_KEY_ID } from './helpers/razorpay';
import { signUp, type TestUser } from './helpers/users';

// The generated TypeScript client (clients/typescript) against the real worker: every path, body and answer
// below is typed from the committed OpenAPI document, so a route that drifts from it fails here or in typecheck.

// PUBLIC_BASE_URL on loopback so the local QStash emulator accepts the order's expiry message.
const db = useTestDatabase({ ...razorpayVars, PUBLIC_BASE_URL: 'http://127.0.0.1:8787' });

let rzp: FakeRazorpay;
beforeEach(() => {
  rzp = new FakeRazorpay();
});
afterEach(() => {
  rzp.fetch.restore();
  vi.restoreAllMocks();
});

const clientFor = (user?: TestUser): FairArenaClient =>
  createFairArenaClient({ baseUrl: BASE, fetch: workerFetch(db.env), token: user?.token });

describe('typed client', () => {
  it('reads and updates the profile with a session token', async () => {
    const user = await signUp(db, { firstName: 'Ada', lastName: 'Lovelace' });
    const api = clientFor(user);

    const before = await api.GET('/api/v1/profile');
    expect(before.response.status).toBe(200);
    const own: Schemas['OwnProfile'] = before.data!.data;
    expect(own).toMatchObject({ userId: user.id, email: user.email, firstName: 'Ada' });

    const update: Schemas['ProfileUpdate'] = { jobTitle: 'Staff Engineer', skills: ['TypeScript', 'PostgreSQL'] };
    const after = await api.PUT('/api/v1/profile', { body: update });
    expect(after.response.status).toBe(200);
    expect(after.data!.data).toMatchObject({ jobTitle: 'Staff Engineer', skills: ['TypeScript', 'PostgreSQL'] });
    expect((await api.GET('/api/v1/profile')).data!.data.jobTitle).toBe('Staff Engineer');
  });

  it('answers an anonymous call with the typed error envelope', async () => {
    const r = await clientFor().GET('/api/v1/profile');
    expect(r.response.status).toBe(401);
    const error: ApiError | undefined = r.error;
    expect(error?.error.code).toBe('AUTH_REQUIRED');
    expect(error?.error.requestId).toBe(r.response.headers.get('X-Request-Id'));
  });

  it('creates an organization and lists it with typed paths and queries', async () => {
    const user = await signUp(db);
    const api = clientFor(user);
    const slug = `client-${crypto.randomUUID().slice(0, 8)}`;
    const created = await api.POST('/api/v1/organization', { body: { name: `Client Org ${slug}`, slug } });
    expect(created.response.status).toBe(201);
    const org: Schemas['Organization'] = created.data!.data;
    expect(org).toMatchObject({ slug, role: { name: 'Owner' }, memberCount: 1 });

    const one = await api.GET('/api/v1/organization/{orgId}', { params: { path: { orgId: slug } } });
    expect(one.data!.data.id).toBe(org.id);
    const mine = await api.GET('/api/v1/organization', { params: { query: { limit: 10 } } });
    expect(mine.data!.meta).toMatchObject({ limit: 10, offset: 0 });
    expect(mine.data!.data.map((o) => o.id)).toContain(org.id);

    const taken = await api.POST('/api/v1/organization', { body: { name: `Other ${slug}`, slug } });
    expect([taken.response.status, taken.error?.error.code]).toEqual([409, 'CONFLICT']);
  });

  it('creates a payment order (Razorpay faked at the fetch boundary)', async () => {
    const user = await signUp(db);
    const api = clientFor(user);
    const order = await api.POST('/api/v1/payments/create-order', { body: { planId: 'business_plan' } });
    expect(order.response.status).toBe(200);
    const created: Schemas['CreatedOrder'] = order.data!.data;
    expect(created).toMatchObject({ orderId: expect.stringMatching(/^order_/), amount: 299900, currency: 'INR', keyId: RZP_KEY_ID });
    expect(rzp.orders.has(created.orderId)).toBe(true);

    const history = await api.GET('/api/v1/payments/history', { params: { query: { status: 'PENDING' } } });
    expect(history.data!.data.map((p) => p.orderId)).toEqual([created.orderId]);
  });
});
