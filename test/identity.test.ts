import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { requireUser } from '../src/middleware/auth';
import { registerRoutes } from '../src/routes';
import { createRouter } from '../src/router';
import { clerkUserJson, sessionToken, signedClerkWebhook } from './helpers/clerk';
import { CapturedQueue, useTestDatabase } from './helpers/db';
import { fakeFetch, stalledBody } from './helpers/fake-fetch';
import { addOrgMember, createOrg } from './helpers/orgs';
import { call } from './helpers/http';
import { signUp } from './helpers/users';

const db = useTestDatabase();
const whoami = createRouter();
whoami.get('/', requireUser, (c) => c.json({ data: { userId: c.get('userId') } }));
const app = createApp((a) => {
  registerRoutes(a);
  a.route('/api/v1/_whoami', whoami);
});

const newId = () => `user_${crypto.randomUUID().replaceAll('-', '').slice(0, 24)}`;
const secret = () => db.env.CLERK_WEBHOOK_SECRET as string;
const userRow = async (id: string) => (await db.sql<any>('select * from users where id = $1', [id])).rows[0];

async function postWebhook(type: string, data: unknown, options: { msgId?: string; timestamp?: Date; secret?: string } = {}) {
  const { body, headers } = await signedClerkWebhook(options.secret ?? secret(), type, data, options);
  return call(db.env, '/webhooks/v1/clerk', { method: 'POST', raw: body, headers });
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('authentication', () => {
  it('401 AUTH_REQUIRED without a session, never 500 for bad tokens', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const user = await signUp(db);
    const cases: Record<string, Record<string, string>> = {
      none: {},
      malformed: { Authorization: 'Bearer not.a.jwt' },
      garbage: { Authorization: 'Bearer ' + 'x'.repeat(500) },
      expired: { Authorization: `Bearer ${await sessionToken(user.id, { expiresIn: -120 })}` },
      wrongKey: { Authorization: `Bearer ${await sessionToken(user.id, { foreignKey: true })}` },
      wrongParty: { Authorization: `Bearer ${await sessionToken(user.id, { azp: 'https://evil.example' })}` },
      badCookie: { Cookie: '__session=garbage' },
    };
    for (const [name, headers] of Object.entries(cases)) {
      const r = await call(db.env, '/api/v1/_whoami', { app, headers });
      expect([name, r.status, r.body.error?.code]).toEqual([name, 401, 'AUTH_REQUIRED']);
    }
  });

  it('accepts a valid session as a Bearer token or the __session cookie', async () => {
    const user = await signUp(db);
    const bearer = await call(db.env, '/api/v1/_whoami', { app, token: user.token });
    expect(bearer.status).toBe(200);
    expect(bearer.body.data.userId).toBe(user.id);
    // Browsers send __session with __client_uat. (Clerk *development* instances additionally demand
    // their dev-browser cookie, so this path is exercised with a production-style publishable key.)
    const live = { ...db.env, CLERK_PUBLISHABLE_KEY: `pk_live_${btoa('clerk.fairarena.test$')}` };
    const cookie = await call(live, '/api/v1/_whoami', {
      app,
      headers: { Cookie: `__session=${user.token}; __client_uat=${Math.floor(Date.now() / 1000) - 60}` },
    });
    expect(cookie.status).toBe(200);
    expect(cookie.body.data.userId).toBe(user.id);
  });

  it('accepts session tokens only: API keys, machine and OAuth tokens stay anonymous and never reach Clerk', async () => {
    const user = await signUp(db);
    const clerk = fakeFetch(); // records every third-party call; none may happen
    // Clerk's SDK binds fetch when it is imported, except under NODE_ENV=test: so that any call it would
    // make goes through the spy too.
    vi.stubEnv('NODE_ENV', 'test');
    const random = () => crypto.randomUUID().replaceAll('-', '');
    const cases: Record<string, string> = {
      apiKey: `ak_${random()}`,
      machineToken: `mt_${random()}`,
      oauthToken: `oat_${random()}`,
      // Correctly signed with our key, but not session tokens:
      oauthJwt: await sessionToken(user.id, { header: { typ: 'at+jwt' } }),
      machineJwt: await sessionToken(`mch_${random()}`),
      pendingSession: await sessionToken(user.id, { claims: { sts: 'pending' } }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const r = await call(db.env, '/api/v1/_whoami', { app, token });
      expect([name, r.status, r.body.error?.code]).toEqual([name, 401, 'AUTH_REQUIRED']);
      const open = await call(db.env, '/api/v1/plans', { token });
      expect([name, open.status]).toEqual([name, 200]);
    }
    expect(clerk.calls.map((req) => req.url)).toEqual([]);
    // The same user with a real session token is signed in.
    expect((await call(db.env, '/api/v1/_whoami', { app, token: user.token })).status).toBe(200);
  });

  it('imports the verification key once per isolate, not per request', async () => {
    const user = await signUp(db);
    expect((await call(db.env, '/api/v1/_whoami', { app, token: user.token })).status).toBe(200);
    const tokens = await Promise.all([1, 2, 3].map(() => sessionToken(user.id))); // minting imports the signing key: do it first
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    for (const token of tokens) expect((await call(db.env, '/api/v1/_whoami', { app, token })).status).toBe(200);
    const rsaImports = importKey.mock.calls.filter((args) => JSON.stringify(args[2] ?? '').includes('RSASSA'));
    expect(rsaImports).toHaveLength(0);
  });

  it('checks a token\'s signature once per isolate, its lifetime on every request', async () => {
    const user = await signUp(db);
    const token = await sessionToken(user.id, { expiresIn: 60 });
    const verify = vi.spyOn(crypto.subtle, 'verify');
    for (let i = 0; i < 3; i++) expect((await call(db.env, '/api/v1/_whoami', { app, token })).status).toBe(200);
    expect(verify).toHaveBeenCalledTimes(1);
    // The same header and claims with another signature are checked, and refused: the whole token is the key.
    const [head, claims, signature] = token.split('.');
    const tampered = `${head}.${claims}.${signature!.slice(0, -6)}${signature!.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'}`;
    expect((await call(db.env, '/api/v1/_whoami', { app, token: tampered })).status).toBe(401);
    expect((await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(user.id, { foreignKey: true }) })).status).toBe(401);
    // A minute and the clock skew later the same token is expired, verified or not.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 66_000);
      expect((await call(db.env, '/api/v1/_whoami', { app, token })).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a __session cookie counts only while the browser is signed in (__client_uat) and not older than that sign-in', async () => {
    const user = await signUp(db);
    const now = Math.floor(Date.now() / 1000);
    const cookie = async (uat: string | null) =>
      (await call(db.env, '/api/v1/_whoami', { app, headers: { Cookie: `__session=${user.token}${uat === null ? '' : `; __client_uat=${uat}`}` } })).status;
    expect(await cookie(String(now - 60))).toBe(200);
    expect(await cookie(null)).toBe(401); // no client: signed out
    expect(await cookie('0')).toBe(401); // signed out in this browser
    expect(await cookie(String(now + 60))).toBe(401); // signed in again since this token was issued
  });

  it('the __session cookie is no credential on a cross-site request without an Origin (a link, window or image from another site)', async () => {
    const user = await signUp(db);
    const session = `__session=${user.token}; __client_uat=${Math.floor(Date.now() / 1000) - 60}`;
    const whoami = async (headers: Record<string, string>) => (await call(db.env, '/api/v1/_whoami', { app, headers: { Cookie: session, ...headers } })).status;
    expect(await whoami({ 'Sec-Fetch-Site': 'cross-site' })).toBe(401);
    // The same browser's own requests, and the front end's CORS fetches (an allowed Origin), still count.
    expect(await whoami({ 'Sec-Fetch-Site': 'same-site' })).toBe(200);
    expect(await whoami({ 'Sec-Fetch-Site': 'same-origin' })).toBe(200);
    expect(await whoami({ 'Sec-Fetch-Site': 'none' })).toBe(200); // typed into the address bar
    expect(await whoami({ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://app.fairarena.test' })).toBe(200);
    expect(await whoami({})).toBe(200); // no fetch metadata: not a browser, or an old one
    // A Bearer token is sent on purpose by the caller's own code: fetch metadata does not matter.
    expect((await call(db.env, '/api/v1/_whoami', { app, token: user.token, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(200);
  });

  it('public routes stay public with or without a token', async () => {
    expect((await call(db.env, '/api/v1/plans')).status).toBe(200);
    expect((await call(db.env, '/api/v1/plans', { headers: { Authorization: 'Bearer junk' } })).status).toBe(200);
  });

  it('a deleted account is refused even with a still-valid token', async () => {
    const user = await signUp(db);
    await db.sql('update users set deleted_at = now() where id = $1', [user.id]);
    const r = await call(db.env, '/api/v1/_whoami', { app, token: user.token });
    expect(r.status).toBe(401);
  });
});

describe('just-in-time provisioning', () => {
  it('creates an unknown user once, from Clerk, even under 5 concurrent first requests', async () => {
    const id = newId();
    const clerk = fakeFetch({
      [`GET https://api.clerk.com/v1/users/${id}`]: async (req) => {
        expect(req.headers.get('Authorization')).toBe('Bearer sk_test_local');
        return Response.json(clerkUserJson({ id, email: 'Grace.Hopper@Example.test', first_name: 'Grace' }));
      },
    });
    const token = await sessionToken(id);
    const results = await Promise.all(Array.from({ length: 5 }, () => call(db.env, '/api/v1/_whoami', { app, token })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(clerk.calls.length).toBeGreaterThanOrEqual(1);
    const row = await userRow(id);
    expect(row).toMatchObject({ email: 'grace.hopper@example.test', first_name: 'Grace' });
    expect((await db.sql('select 1 from settings where user_id = $1', [id])).rows).toHaveLength(1);
    expect((await db.sql('select 1 from profiles where user_id = $1', [id])).rows).toHaveLength(1);
    const created = await db.sql(`select 1 from outbox where event_name = 'user.created' and payload->>'userId' = $1`, [id]);
    expect(created.rows).toHaveLength(1);
  });

  it('never locks a user out when Clerk is down: placeholder now, the webhook fills the email in', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const id = newId();
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${id}`]: () => new Response('upstream down', { status: 503 }) });
    const r = await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(id) });
    expect(r.status).toBe(200);
    expect((await userRow(id)).email).toMatch(/@users\.invalid$/);
    const hook = await postWebhook('user.created', clerkUserJson({ id, email: 'late@example.test' }));
    expect(hook.body.data.outcome).toBe('updated');
    expect((await userRow(id)).email).toBe('late@example.test');
  });

  it('a name with NUL or past 200 characters, or an odd secondary address, never locks the user out: stored cleaned, with the real email', async () => {
    const id = newId();
    const user = clerkUserJson({ id, email: 'Odd.Names@Example.test', first_name: 'Ad\u0000a', last_name: 'L'.repeat(300) });
    user.email_addresses[0]!.email_address = 'not an address';
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${id}`]: () => Response.json(user) });
    const r = await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(id) });
    expect(r.status).toBe(200);
    expect(await userRow(id)).toMatchObject({ email: 'odd.names@example.test', first_name: 'Ada', last_name: 'L'.repeat(200) });
  });
});

describe('just-in-time provisioning: Clerk stalls mid-answer', () => {
  it('headers then a body that never ends: the lookup gives up within its 3 s and the user gets the placeholder', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const id = newId();
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${id}`]: () => stalledBody() });
    const started = Date.now();
    const r = await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(id) });
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(8000);
    expect((await userRow(id)).email).toMatch(/@users\.invalid$/);
  });
});

describe('POST /webhooks/v1/clerk', () => {
  it('user.created creates the user, settings and profile; the welcome email and notification follow', async () => {
    const id = newId();
    const r = await postWebhook('user.created', clerkUserJson({ id, email: 'new@example.test', first_name: '<img src=x onerror=alert(1)>' }));
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ type: 'user.created', outcome: 'created' });
    expect(await userRow(id)).toMatchObject({ email: 'new@example.test', deleted_at: null });
    expect(db.events.names()).toContain('user.created');
    await db.events.drain();
    const mail = (await db.sql<any>(`select * from dev_emails where "to" = 'new@example.test'`)).rows;
    expect(mail).toHaveLength(1);
    expect(mail[0].subject).toBe('Welcome to FairArena');
    expect(mail[0].html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(mail[0].html).not.toContain('<img src=x');
    expect(mail[0].text).toContain('Hi <img src=x onerror=alert(1)>,'); // plain text is not HTML
    const note = (await db.sql<any>('select type, title from notifications where user_id = $1', [id])).rows;
    expect(note).toEqual([{ type: 'SYSTEM', title: 'Welcome to FairArena' }]);
  });

  it('user.created/updated with NUL in a name, an over-long name or an odd secondary address is applied, not refused', async () => {
    const id = newId();
    const created = clerkUserJson({ id, email: 'nul@example.test', first_name: 'Gr\u0000ace', username: `u\u0000${'x'.repeat(250)}` });
    created.email_addresses[0]!.email_address = 'also not@an address';
    const r = await postWebhook('user.created', created);
    expect(r.status).toBe(200);
    expect(r.body.data.outcome).toBe('created');
    expect(await userRow(id)).toMatchObject({ email: 'nul@example.test', first_name: 'Grace', username: `u${'x'.repeat(199)}` });
    const updated = clerkUserJson({ id, email: 'nul@example.test', first_name: 'Renamed', last_name: 'Hop\u0000per' });
    updated.email_addresses[0]!.email_address = '@@@';
    const u = await postWebhook('user.updated', updated);
    expect(u.status).toBe(200);
    expect(await userRow(id)).toMatchObject({ first_name: 'Renamed', last_name: 'Hopper' });
  });

  it('an invalid primary address is still refused (400): it is the one address we use', async () => {
    const id = newId();
    const user = clerkUserJson({ id, email: 'fine@example.test' });
    user.email_addresses[1]!.email_address = 'not an address';
    expect((await postWebhook('user.created', user)).status).toBe(400);
    expect(await userRow(id)).toBeUndefined();
  });

  it('a replayed svix-id is a no-op', async () => {
    const id = newId();
    const msgId = `msg_${crypto.randomUUID()}`;
    expect((await postWebhook('user.created', clerkUserJson({ id, email: 'replay@example.test' }), { msgId })).body.data.outcome).toBe('created');
    await db.sql('update users set first_name = $2 where id = $1', [id, 'Changed locally']);
    const again = await postWebhook('user.created', clerkUserJson({ id, email: 'replay@example.test' }), { msgId });
    expect(again.status).toBe(200);
    expect(again.body.data.outcome).toBe('duplicate');
    expect((await userRow(id)).first_name).toBe('Changed locally');
    const events = await db.sql(`select 1 from outbox where event_name = 'user.created' and payload->>'userId' = $1`, [id]);
    expect(events.rows).toHaveLength(1);
  });

  it('a failure while applying claims nothing: the redelivery of the same svix-id is applied', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const id = newId();
    const msgId = `msg_${crypto.randomUUID()}`;
    const claims = async () => (await db.sql(`select 1 from webhook_deliveries where source = 'clerk' and delivery_id = $1`, [msgId])).rows.length;
    // The profile insert comes after the user row and the delivery claim: refusing it fails the delivery mid-way.
    await db.sql(`create or replace function test_refuse_profile() returns trigger language plpgsql as $$
      begin if new.user_id = '${id}' then raise exception 'profile refused'; end if; return new; end $$`);
    await db.sql(`create trigger test_refuse_profile before insert on profiles for each row execute function test_refuse_profile()`);
    try {
      const failed = await postWebhook('user.created', clerkUserJson({ id, email: 'retried@example.test' }), { msgId });
      expect(failed.status).toBe(500);
    } finally {
      await db.sql('drop trigger test_refuse_profile on profiles');
    }
    expect(await userRow(id)).toBeUndefined();
    expect(await claims()).toBe(0);

    const redelivered = await postWebhook('user.created', clerkUserJson({ id, email: 'retried@example.test' }), { msgId });
    expect(redelivered.body.data).toEqual({ type: 'user.created', outcome: 'created' });
    expect(await userRow(id)).toMatchObject({ email: 'retried@example.test', deleted_at: null });
    expect(await claims()).toBe(1);
    expect((await postWebhook('user.created', clerkUserJson({ id, email: 'retried@example.test' }), { msgId })).body.data.outcome).toBe('duplicate');
  });

  it('concurrent deliveries of one svix-id: one applies it, the others wait for its claim and are duplicates', async () => {
    const id = newId();
    const msgId = `msg_${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 3 }, () => postWebhook('user.created', clerkUserJson({ id, email: 'raced@example.test' }), { msgId })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.map((r) => r.body.data.outcome).sort()).toEqual(['created', 'duplicate', 'duplicate']);
    const events = await db.sql(`select 1 from outbox where event_name = 'user.created' and payload->>'userId' = $1`, [id]);
    expect(events.rows).toHaveLength(1);
  });

  it('user.updated syncs by Clerk id, including a changed primary email', async () => {
    const id = newId();
    await postWebhook('user.created', clerkUserJson({ id, email: 'before@example.test' }));
    const r = await postWebhook('user.updated', clerkUserJson({ id, email: 'after@example.test', first_name: 'Renamed' }));
    expect(r.body.data.outcome).toBe('updated');
    expect(await userRow(id)).toMatchObject({ email: 'after@example.test', first_name: 'Renamed' });
    expect((await db.sql('select count(*)::int as n from users where id = $1', [id])).rows[0]).toEqual({ n: 1 });
  });

  it('user.deleted soft-deletes, hides the user, and sends the deletion email', async () => {
    const id = newId();
    await postWebhook('user.created', clerkUserJson({ id, email: 'bye@example.test' }));
    const r = await postWebhook('user.deleted', { id, object: 'user', deleted: true });
    expect(r.body.data.outcome).toBe('deleted');
    expect((await userRow(id)).deleted_at).not.toBeNull();
    await db.events.drain();
    const subjects = (await db.sql<any>(`select subject from dev_emails where "to" = 'bye@example.test' order by created_at`)).rows.map((m) => m.subject);
    expect(subjects).toContain('Your FairArena account has been deleted');
    const again = await postWebhook('user.deleted', { id, object: 'user', deleted: true });
    expect(again.body.data.outcome).toBe('ignored');
  });

  it('a deletion during a Redis outage does not leave the account usable once Redis is back', async () => {
    const user = await signUp(db);
    const whoami = async () => (await call(db.env, '/api/v1/_whoami', { app, token: user.token })).status;
    expect(await whoami()).toBe(200); // Redis now remembers the user as active
    const deadRedis = { ...db.env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' } as typeof db.env;
    const { body, headers } = await signedClerkWebhook(secret(), 'user.deleted', { id: user.id, object: 'user', deleted: true });
    expect((await call(deadRedis, '/webhooks/v1/clerk', { method: 'POST', raw: body, headers })).body.data.outcome).toBe('deleted');
    const event = db.events.messages.find((m) => m.name === 'user.deleted' && (m.payload as { userId: string }).userId === user.id)!;
    // Delivered while Redis is still down: it fails, so the queue delivers it again.
    const duringOutage = new CapturedQueue(() => deadRedis);
    duringOutage.messages.push(event);
    expect((await duringOutage.drain()).retried).toHaveLength(1);
    // Delivered once Redis is back: the cached answer is gone and the token no longer works.
    await db.events.drain();
    expect(await whoami()).toBe(401);
  });

  it('a new account with a recently deleted email recovers the old account and its data', async () => {
    const oldId = newId();
    await postWebhook('user.created', clerkUserJson({ id: oldId, email: 'phoenix@example.test' }));
    await db.sql(`insert into credit_balances (user_id, balance) values ($1, 0)`, [oldId]);
    await db.sql(`insert into credit_transactions (user_id, type, amount, balance_after, description) values ($1, 'BONUS', 25, 25, 'gift')`, [oldId]);
    await postWebhook('user.deleted', { id: oldId, object: 'user', deleted: true });

    const newUserId = newId();
    const r = await postWebhook('user.created', clerkUserJson({ id: newUserId, email: 'phoenix@example.test', first_name: 'Phoenix' }));
    expect(r.body.data.outcome).toBe('recovered');
    expect(await userRow(oldId)).toBeUndefined();
    expect(await userRow(newUserId)).toMatchObject({ email: 'phoenix@example.test', deleted_at: null, first_name: 'Phoenix' });
    expect((await db.sql('select amount from credit_transactions where user_id = $1', [newUserId])).rows).toEqual([{ amount: 25 }]);
    expect((await db.sql('select 1 from profiles where user_id = $1', [newUserId])).rows).toHaveLength(1);
    await db.events.drain();
    const subjects = (await db.sql<any>(`select subject from dev_emails where "to" = 'phoenix@example.test'`)).rows.map((m) => m.subject);
    expect(subjects).toContain('Your FairArena account has been recovered');
  });

  it('an unverified email never recovers an account (it would hand over its data and credits)', async () => {
    const oldId = newId();
    await postWebhook('user.created', clerkUserJson({ id: oldId, email: 'victim@example.test' }));
    await postWebhook('user.deleted', { id: oldId, object: 'user', deleted: true });
    const attacker = newId();
    const data = clerkUserJson({ id: attacker, email: 'victim@example.test' });
    for (const e of data.email_addresses) e.verification = { status: 'unverified', strategy: 'email_code' };
    const r = await postWebhook('user.created', data);
    expect(r.body.data.outcome).toBe('created');
    expect((await userRow(oldId)).deleted_at).not.toBeNull();
    expect((await userRow(attacker)).id).toBe(attacker);
  });

  it('an email held by another active account never locks a user out or fails the webhook', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const holder = await signUp(db, { email: 'taken@example.test' });
    // just-in-time provisioning: Clerk says the new user's email is one we already hold
    const id = newId();
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${id}`]: () => Response.json(clerkUserJson({ id, email: 'taken@example.test' })) });
    const r = await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(id) });
    expect(r.status).toBe(200);
    expect((await userRow(id)).email).toMatch(/@users\.invalid$/);
    // a user.updated to a taken address keeps the old address (and answers 200, so svix stops retrying)
    const other = newId();
    await postWebhook('user.created', clerkUserJson({ id: other, email: 'mine@example.test' }));
    const upd = await postWebhook('user.updated', clerkUserJson({ id: other, email: 'taken@example.test', first_name: 'Renamed' }));
    expect(upd.status).toBe(200);
    expect(await userRow(other)).toMatchObject({ email: 'mine@example.test', first_name: 'Renamed' });
    expect((await userRow(holder.id)).email).toBe('taken@example.test');
  });

  it('an unverified primary email is never stored: placeholder first, the verified address replaces it', async () => {
    const unverified = (id: string, email: string) => {
      const data = clerkUserJson({ id, email });
      for (const e of data.email_addresses) e.verification = { status: 'unverified', strategy: 'email_code' };
      return data;
    };
    // webhook
    const id = newId();
    expect((await postWebhook('user.created', unverified(id, 'claimed@example.test'))).body.data.outcome).toBe('created');
    expect((await userRow(id)).email).toMatch(/@users\.invalid$/);
    const token = await sessionToken(id);
    const profile = await call(db.env, '/api/v1/profile', { token });
    expect(profile.status).toBe(200);
    expect(JSON.stringify(profile.body)).not.toContain('claimed@example.test');
    await postWebhook('user.updated', clerkUserJson({ id, email: 'claimed@example.test' })); // now verified
    expect((await userRow(id)).email).toBe('claimed@example.test');
    expect((await call(db.env, '/api/v1/profile', { token })).body.data.email).toBe('claimed@example.test');
    // just-in-time provisioning
    const jit = newId();
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${jit}`]: () => Response.json(unverified(jit, 'jit-claimed@example.test')) });
    const r = await call(db.env, '/api/v1/profile', { token: await sessionToken(jit) });
    expect(r.status).toBe(200);
    expect(r.body.data.email).toMatch(/@users\.invalid$/);
  });

  it('recovering a deleted account whose address another active account now holds never fails: a fresh account is created', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const oldId = newId();
    await postWebhook('user.created', clerkUserJson({ id: oldId, email: 'contested@example.test' }));
    await postWebhook('user.deleted', { id: oldId, object: 'user', deleted: true });
    const holder = await signUp(db, { email: 'contested@example.test' });
    const newcomer = newId();
    const r = await postWebhook('user.created', clerkUserJson({ id: newcomer, email: 'contested@example.test' }));
    expect([r.status, r.body.data?.outcome]).toEqual([200, 'created']);
    expect((await userRow(oldId)).deleted_at).not.toBeNull();
    expect((await userRow(newcomer)).email).toMatch(/@users\.invalid$/);
    expect((await userRow(holder.id)).email).toBe('contested@example.test');
    // the same through just-in-time provisioning
    const jit = newId();
    fakeFetch({ [`GET https://api.clerk.com/v1/users/${jit}`]: () => Response.json(clerkUserJson({ id: jit, email: 'contested@example.test' })) });
    expect((await call(db.env, '/api/v1/_whoami', { app, token: await sessionToken(jit) })).status).toBe(200);
    expect((await userRow(oldId)).deleted_at).not.toBeNull();
  });

  it('a user.deleted that overtakes its user.created leaves the account deleted', async () => {
    const id = newId();
    const gone = await postWebhook('user.deleted', { id, object: 'user', deleted: true });
    expect([gone.status, gone.body.data.outcome]).toEqual([200, 'deleted']);
    const late = await postWebhook('user.created', clerkUserJson({ id, email: 'overtaken@example.test' }));
    expect([late.status, late.body.data.outcome]).toEqual([200, 'ignored']);
    expect((await userRow(id)).deleted_at).not.toBeNull();
    expect((await postWebhook('user.updated', clerkUserJson({ id, email: 'overtaken@example.test' }))).body.data.outcome).toBe('ignored');
    const token = await sessionToken(id);
    expect((await call(db.env, '/api/v1/profile', { token })).status).toBe(401);
    expect((await call(db.env, `/api/v1/profile/view/${id}`)).status).toBe(404);
    // nobody is mailed about it, and the address Clerk sent was never stored
    await db.events.drain();
    expect((await db.sql(`select 1 from dev_emails where "to" = 'overtaken@example.test'`)).rows).toHaveLength(0);
    expect((await db.sql(`select 1 from users where email = 'overtaken@example.test'`)).rows).toHaveLength(0);
  });

  it('deleting and recovering an account updates the member counts its co-members have cached', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const oldId = newId();
    await postWebhook('user.created', clerkUserJson({ id: oldId, email: 'counted@example.test' }));
    await addOrgMember(db, org.id, oldId, 'Member');
    const memberCount = async () => (await call(db.env, '/api/v1/organization', { token: owner.token })).body.data.find((o: { id: string }) => o.id === org.id).memberCount;
    expect(await memberCount()).toBe(2); // now cached
    await postWebhook('user.deleted', { id: oldId, object: 'user', deleted: true });
    expect(await memberCount()).toBe(1);
    const r = await postWebhook('user.created', clerkUserJson({ id: newId(), email: 'counted@example.test' }));
    expect(r.body.data.outcome).toBe('recovered');
    expect(await memberCount()).toBe(2);
  });

  it('an account deleted longer ago than the retention period is not recovered', async () => {
    const oldId = newId();
    await postWebhook('user.created', clerkUserJson({ id: oldId, email: 'ancient@example.test' }));
    await db.sql(`update users set deleted_at = now() - interval '31 days' where id = $1`, [oldId]);
    const newUserId = newId();
    const r = await postWebhook('user.created', clerkUserJson({ id: newUserId, email: 'ancient@example.test' }));
    expect(r.body.data.outcome).toBe('created');
    expect((await userRow(oldId)).deleted_at).not.toBeNull();
  });

  it('refuses bad, missing, foreign and stale signatures with 401', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const data = clerkUserJson({ id: newId(), email: 'sig@example.test' });
    const forged = await postWebhook('user.created', data, { secret: `whsec_${btoa('not-the-real-secret-123456')}` });
    expect([forged.status, forged.body.error.code]).toEqual([401, 'AUTH_REQUIRED']);
    const stale = await postWebhook('user.created', data, { timestamp: new Date(Date.now() - 10 * 60_000) });
    expect(stale.status).toBe(401);
    const { body, headers } = await signedClerkWebhook(secret(), 'user.created', data);
    const tampered = await call(db.env, '/webhooks/v1/clerk', { method: 'POST', raw: body.replace('sig@', 'evil@'), headers });
    expect(tampered.status).toBe(401);
    const unsigned = await call(db.env, '/webhooks/v1/clerk', { method: 'POST', raw: body, headers: { 'Content-Type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    expect((await db.sql(`select 1 from users where email like '%sig@example.test'`)).rows).toHaveLength(0);
  });

  it('400 for a signed but invalid payload; other event types are acknowledged and ignored', async () => {
    const bad = await postWebhook('user.created', { id: '', email_addresses: 'nope' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_ERROR']);
    const other = await postWebhook('session.created', { id: 'sess_1' });
    expect(other.status).toBe(200);
    expect(other.body.data).toEqual({ type: 'session.created', outcome: 'ignored' });
  });

  it('503 while CLERK_WEBHOOK_SECRET is unset (never accepts unsigned)', async () => {
    const { body, headers } = await signedClerkWebhook(secret(), 'user.created', clerkUserJson({ id: newId(), email: 'x@example.test' }));
    const r = await call({ ...db.env, CLERK_WEBHOOK_SECRET: '' }, '/webhooks/v1/clerk', { method: 'POST', raw: body, headers });
    expect([r.status, r.body.error.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
  });
});

describe('GET /dev/emails', () => {
  it('shows the dev mailbox in development only', async () => {
    await db.sql(`insert into dev_emails ("to", subject, html, text) values ('box@example.test', 'Hello', '<p>x</p>', 'x')`);
    const dev = await call({ ...db.env, ENVIRONMENT: 'development' }, '/dev/emails?to=box@example.test');
    expect(dev.status).toBe(200);
    expect(dev.body.data.map((m: { subject: string }) => m.subject)).toEqual(['Hello']);
    expect((await call(db.env, '/dev/emails')).status).toBe(404);
    expect((await call({ ...db.env, ENVIRONMENT: 'staging', NEON_LOCAL_PROXY: '' }, '/dev/emails')).status).toBe(404);
  });
});
