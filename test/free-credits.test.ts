import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { userState } from '../src/durable/user-state';
import { useTestDatabase } from './helpers/db';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

const eligibility = (u: TestUser) => call(db.env, '/api/v1/credits/eligibility', { token: u.token });
const claim = (u: TestUser, env: Env = db.env) => call(env, '/api/v1/credits/claim', { method: 'POST', token: u.token });
let n = 0;
const phone = () => `+9196${String(Date.now() % 1e5).padStart(5, '0')}${String(n++ % 1000).padStart(3, '0')}`;
const verified = async (u: TestUser) => {
  await db.sql(`update users set phone_number = $2, phone_verified_at = now() where id = $1`, [u.id, phone()]);
  return u;
};
const ledger = async (id: string) =>
  (await db.sql<{ type: string; amount: number; balance_after: number; description: string }>(`select type, amount, balance_after, description from credit_transactions where user_id = $1`, [id])).rows;

describe('GET /credits/eligibility', () => {
  it('is computed from the database each time: number, verification, claim', async () => {
    const u = await signUp(db);
    const r = await eligibility(u);
    expect(r.status).toBe(200);
    expect(r.headers.get('Cache-Control')).toBe('private, no-store');
    expect(r.body.data).toEqual({ canClaim: false, hasClaimed: false, phoneVerified: false, hasPhoneNumber: false });

    await db.sql(`update users set phone_number = $2 where id = $1`, [u.id, phone()]);
    expect((await eligibility(u)).body.data).toEqual({ canClaim: false, hasClaimed: false, phoneVerified: false, hasPhoneNumber: true });

    await db.sql(`update users set phone_verified_at = now() where id = $1`, [u.id]);
    expect((await eligibility(u)).body.data).toEqual({ canClaim: true, hasClaimed: false, phoneVerified: true, hasPhoneNumber: true });

    expect((await claim(u)).status).toBe(200);
    // read repeatedly: never a stale "not claimed"
    for (let i = 0; i < 3; i++) {
      expect((await eligibility(u)).body.data).toEqual({ canClaim: false, hasClaimed: true, phoneVerified: true, hasPhoneNumber: true });
    }
  });
});

describe('POST /credits/claim', () => {
  it('grants 200 INITIAL_ALLOCATION credits once, with activity row and event; the next claim is 409', async () => {
    const u = await verified(await signUp(db));
    const r = await claim(u);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ creditsAdded: 200, balance: 200 });
    expect(r.body.data.transactionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await ledger(u.id)).toEqual([{ type: 'INITIAL_ALLOCATION', amount: 200, balance_after: 200, description: 'Welcome bonus - Free credits for all users' }]);
    const acts = (await db.sql<{ action: string; metadata: Record<string, unknown> }>(`select action, metadata from activity_logs where user_id = $1`, [u.id])).rows;
    expect(acts).toEqual([{ action: 'credits.claimed', metadata: { amount: 200, transactionId: r.body.data.transactionId } }]);
    expect(db.events.names()).toContain('credits.free_claimed');
    expect((await call(db.env, '/api/v1/credits/balance', { token: u.token })).body.data.balance).toBe(200);

    const again = await claim(u);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'CONFLICT', details: { reason: 'ALREADY_CLAIMED' } });

    await db.events.drain();
    const mail = (await db.sql<{ subject: string }>(`select subject from dev_emails where "to" = $1`, [u.email])).rows.map((m) => m.subject);
    expect(mail).toContain('200 free credits added to your FairArena account');
    const notes = (await db.sql<{ title: string }>(`select title from notifications where user_id = $1`, [u.id])).rows.map((x) => x.title);
    expect(notes).toContain('Welcome bonus credits');
  });

  it('403 PHONE_NOT_VERIFIED without a verified phone (an unverified number is not enough)', async () => {
    const u = await signUp(db);
    await db.sql(`update users set phone_number = $2 where id = $1`, [u.id, phone()]);
    const r = await claim(u);
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'PHONE_NOT_VERIFIED', requiresVerification: true } });
    expect(await ledger(u.id)).toEqual([]);
  });

  it('10 concurrent claims: exactly one grant, nine 409', async () => {
    const u = await verified(await signUp(db));
    const results = await Promise.all(Array.from({ length: 10 }, () => claim(u)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const conflicts = results.filter((r) => r.status === 409);
    expect(conflicts).toHaveLength(9);
    for (const c of conflicts) expect(['CLAIM_IN_PROGRESS', 'ALREADY_CLAIMED']).toContain(c.body.error.details.reason);
    expect(await ledger(u.id)).toHaveLength(1);
    expect((await db.sql<{ balance: number }>(`select balance from credit_balances where user_id = $1`, [u.id])).rows[0]!.balance).toBe(200);
  });

  it('at most 3 attempts per 24 h (429 with Retry-After); "already claimed" answers never use one up', async () => {
    const u = await signUp(db);
    for (let i = 0; i < 3; i++) expect((await claim(u)).status).toBe(403);
    const limited = await claim(u);
    expect(limited.status).toBe(429);
    expect(limited.body.error.details.reason).toBe('CLAIM_LIMIT');
    const retryAfter = Number(limited.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(86_300);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(limited.body.error.details.retryAfter).toBe(retryAfter);
    await verified(u);
    expect((await claim(u)).status).toBe(429); // still limited today, verified or not

    const claimed = await verified(await signUp(db));
    expect((await claim(claimed)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await claim(claimed)).status).toBe(409);
    expect(await userState(db.env, claimed.id).peek('claim', { limit: 3, windowMs: 86_400_000 })).toMatchObject({ remaining: 2 });
  });

  it('the database is the final guard: an existing grant (e.g. from before this object existed) is 409', async () => {
    const u = await verified(await signUp(db));
    await db.sql(`insert into credit_balances (user_id, balance) values ($1, 200)`, [u.id]);
    await db.sql(
      `insert into credit_transactions (user_id, amount, balance_after, type, description) values ($1, 200, 200, 'INITIAL_ALLOCATION', 'legacy grant')`,
      [u.id],
    );
    const r = await claim(u);
    expect(r.status).toBe(409);
    expect(await ledger(u.id)).toHaveLength(1);
    await expect(
      db.sql(`insert into credit_transactions (user_id, amount, balance_after, type, description) values ($1, 200, 400, 'INITIAL_ALLOCATION', 'second')`, [u.id]),
    ).rejects.toThrow(/credit_transactions_one_initial_allocation_uq/);
  });

  it('fails closed (503) when the UserState object is unreachable', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const u = await verified(await signUp(db));
    const env = { ...db.env, USER_STATE: { idFromName: () => ({}), get: () => ({ beginClaim: () => Promise.reject(new Error('network connection lost')) }) } } as unknown as Env;
    const r = await claim(u, env);
    expect(r.status).toBe(503);
    expect(await ledger(u.id)).toEqual([]);
  });
});
