import { Pool } from '@neondatabase/serverless';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { hmacSha256Hex } from '../src/lib/crypto';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { api, createOrg, createTeam, memberWithRole, resetLimits, unique } from './helpers/orgs';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
const req = api(db);
beforeEach(() => resetLimits(db));
afterEach(() => vi.restoreAllMocks());

const PROJECT = '/api/v1/project';
const WEBHOOK_URL = 'http://api.fairarena.test/webhooks/v1/github'; // PUBLIC_BASE_URL in vitest.config.ts
const suffix = () => crypto.randomUUID().slice(0, 8);

interface Delivery {
  event?: string;
  body: string;
  /** The key the delivery is signed with (a project's webhook secret). */
  secret?: string | Uint8Array;
  signature?: string | null;
  deliveryId?: string;
  contentType?: string;
}

async function deliver(d: Delivery, options: { env?: Env; ip?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': d.contentType ?? 'application/json', 'User-Agent': 'GitHub-Hookshot/abc123' };
  if (d.event !== undefined) headers['X-GitHub-Event'] = d.event;
  headers['X-GitHub-Delivery'] = d.deliveryId ?? crypto.randomUUID();
  const signature = d.signature === undefined ? `sha256=${await hmacSha256Hex(d.secret ?? 'no-secret-given', d.body)}` : d.signature;
  if (signature !== null) headers['X-Hub-Signature-256'] = signature;
  return call(options.env ?? db.env, '/webhooks/v1/github', { method: 'POST', raw: d.body, headers, ip: options.ip });
}

const pushBody = (repo: string, over: Record<string, unknown> = {}) =>
  JSON.stringify({
    ref: 'refs/heads/feature/login',
    before: '0'.repeat(40),
    after: 'a'.repeat(40),
    compare: `https://github.com/${repo}/compare/000000...aaaaaa`,
    repository: { id: 1296269, full_name: repo, name: repo.split('/')[1], owner: { login: repo.split('/')[0] } },
    pusher: { name: 'octocat', email: 'octocat@github.com' },
    commits: [
      { id: 'b'.repeat(40), message: 'Add login form', author: { name: 'Octo Cat', email: 'octocat@github.com' } },
      { id: 'a'.repeat(40), message: 'Wire the API', author: { name: 'Octo Cat', email: 'octocat@github.com' } },
    ],
    head_commit: { id: 'a'.repeat(40), message: `Wire the API\n\nLong body ${'x'.repeat(500)}`, author: { name: 'Octo Cat', email: 'octocat@github.com' } },
    ...over,
  });

const releaseBody = (repo: string, action = 'published') =>
  JSON.stringify({
    action,
    release: { id: 1, tag_name: 'v1.2.0', name: 'Spring release', html_url: `https://github.com/${repo}/releases/tag/v1.2.0`, prerelease: false },
    repository: { id: 1296269, full_name: repo },
    sender: { login: 'octocat' },
  });

interface Linked {
  id: string;
  /** The webhook secret the create answer showed (once). */
  secret: string;
  owner: TestUser;
  teamId: string;
  orgId: string;
}

/**
 * A project linked to `repo` through the API (POST /project with githubRepo), created by `members[0]`
 * (its Owner); the other members join with the Viewer role.
 */
async function linkedProject(repo: string, members: TestUser[] = []): Promise<Linked> {
  const owner = members[0] ?? (await signUp(db));
  const org = await createOrg(db, owner);
  const team = await createTeam(db, owner, org.id);
  const r = await req(owner, 'POST', PROJECT, { teamId: team.id, name: `Hello ${suffix()}`, slug: unique('hello'), githubRepo: repo });
  expect(r.status).toBe(201);
  const id = r.body.data.id as string;
  for (const m of members.slice(1)) {
    await db.sql(`insert into project_members (project_id, user_id, role_id) select $1, $2, id from project_roles where project_id = $1 and name = 'Viewer'`, [id, m.id]);
  }
  return { id, secret: r.body.data.github.webhookSecret, owner, teamId: team.id, orgId: org.id };
}

const auditRows = async (projectId: string) =>
  (await db.sql<{ actor_id: string | null; action: string; target_id: string; changes: Record<string, any> }>(
    `select actor_id, action, target_id, changes from project_audit_logs where project_id = $1 and action like 'github.%' order by created_at`,
    [projectId],
  )).rows;

const storedSecret = async (projectId: string) =>
  (await db.sql<{ github_webhook_secret: string | null }>(`select github_webhook_secret from projects where id = $1`, [projectId])).rows[0]!.github_webhook_secret;

const delivered = async (deliveryId: string) => (await db.sql(`select 1 from webhook_deliveries where delivery_id = $1`, [deliveryId])).rows.length > 0;

describe('per-project webhook secrets (POST/PATCH /project, rotate-secret)', () => {
  it('linking returns a fresh secret once (with the payload URL); GET, the team list and audit rows never show it', async () => {
    const owner = await signUp(db);
    const org = await createOrg(db, owner);
    const team = await createTeam(db, owner, org.id);
    const created = await req(owner, 'POST', PROJECT, { teamId: team.id, name: 'Linked', slug: unique('linked'), githubRepo: 'Octo/Hello' });
    expect(created.status).toBe(201);
    expect(created.headers.get('Cache-Control')).toContain('no-store');
    const { github } = created.body.data;
    expect(github).toEqual({ repo: 'Octo/Hello', webhookSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), webhookUrl: WEBHOOK_URL });
    const id = created.body.data.id as string;
    expect(await storedSecret(id)).toBe(github.webhookSecret);

    const got = await req(owner, 'GET', `${PROJECT}/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.data.githubRepo).toBe('Octo/Hello');
    expect(got.body.data).not.toHaveProperty('github');
    const listed = await req(owner, 'GET', `/api/v1/team/${team.id}/projects`);
    expect(listed.status).toBe(200);
    for (const r of [got, listed]) expect(JSON.stringify(r.body)).not.toContain(github.webhookSecret);

    // a PATCH that does not touch githubRepo (or sets the same value) mints nothing and shows nothing
    for (const patch of [{ description: 'x' }, { githubRepo: 'Octo/Hello' }]) {
      const r = await req(owner, 'PATCH', `${PROJECT}/${id}`, patch);
      expect(r.status).toBe(200);
      expect(r.body.data).not.toHaveProperty('github');
    }
    expect(await storedSecret(id)).toBe(github.webhookSecret);

    // changing the repository mints a new secret, shown once
    const changed = await req(owner, 'PATCH', `${PROJECT}/${id}`, { githubRepo: 'Octo/Other' });
    expect(changed.body.data.github).toEqual({ repo: 'Octo/Other', webhookSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), webhookUrl: WEBHOOK_URL });
    expect(changed.body.data.github.webhookSecret).not.toBe(github.webhookSecret);
    expect(await storedSecret(id)).toBe(changed.body.data.github.webhookSecret);

    const audits = (await db.sql<{ action: string; changes: any }>(`select action, changes from project_audit_logs where project_id = $1 order by created_at, id`, [id])).rows;
    expect(audits.find((a) => a.action === 'project.create')!.changes).toMatchObject({ after: { githubRepo: 'Octo/Hello' }, webhookSecret: 'generated' });
    expect(audits.filter((a) => a.action === 'project.update').at(-1)!.changes).toEqual({ before: { githubRepo: 'Octo/Hello' }, after: { githubRepo: 'Octo/Other' }, webhookSecret: 'rotated' });
    const allAudit = JSON.stringify((await db.sql(`select changes from project_audit_logs where project_id = $1 union all select changes from team_audit_logs where team_id = $2`, [id, team.id])).rows);
    expect(allAudit).not.toContain(github.webhookSecret);
    expect(allAudit).not.toContain(changed.body.data.github.webhookSecret);

    // a project created without a repository has no secret
    const plain = await req(owner, 'POST', PROJECT, { teamId: team.id, name: 'Plain', slug: unique('plain') });
    expect(plain.body.data).not.toHaveProperty('github');
    expect(await storedSecret(plain.body.data.id)).toBeNull();
  });

  it('the database refuses an empty/short secret, or a secret without a linked repository', async () => {
    const p = await linkedProject(`db-${suffix()}/app`);
    await expect(db.sql(`update projects set github_webhook_secret = '' where id = $1`, [p.id])).rejects.toThrow(/projects_github_webhook_secret_chk/);
    await expect(db.sql(`update projects set github_repo = null where id = $1`, [p.id])).rejects.toThrow(/projects_github_webhook_secret_chk/);
  });

  it('rotate-secret: project:update only; a new secret once, the old one stops verifying at once; 409 without a repository; audited without the secret', async () => {
    const repo = `rot-${suffix()}/app`;
    const p = await linkedProject(repo);
    const member = await memberWithRole(db, p.orgId, 'Member'); // reads the INTERNAL project, may not update it
    const path = `${PROJECT}/${p.id}/github/rotate-secret`;
    expect((await req(undefined, 'POST', path)).status).toBe(401);
    expect((await req(member, 'POST', path)).status).toBe(403);
    expect((await req(await signUp(db), 'POST', path)).status).toBe(404);

    const r = await req(p.owner, 'POST', path);
    expect(r.status).toBe(200);
    expect(r.headers.get('Cache-Control')).toContain('no-store');
    expect(r.body.data).toEqual({ repo, webhookSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), webhookUrl: WEBHOOK_URL });
    const fresh = r.body.data.webhookSecret as string;
    expect(fresh).not.toBe(p.secret);

    const old = await deliver({ event: 'push', body: pushBody(repo), secret: p.secret });
    expect(old.status).toBe(401);
    const now = await deliver({ event: 'push', body: pushBody(repo), secret: fresh });
    expect(now.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });

    const [rotation] = (await db.sql<{ actor_id: string; changes: any }>(`select actor_id, changes from project_audit_logs where project_id = $1 and action = 'project.github_secret_rotate'`, [p.id])).rows;
    expect(rotation).toEqual({ actor_id: p.owner.id, changes: { githubRepo: repo, webhookSecret: 'rotated' } });

    await req(p.owner, 'PATCH', `${PROJECT}/${p.id}`, { githubRepo: null });
    const none = await req(p.owner, 'POST', path);
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('CONFLICT');
  });

  it('unlinking clears the secret; later deliveries (even signed with the old secret) → 401; relinking mints a new one', async () => {
    const repo = `un-${suffix()}/app`;
    const p = await linkedProject(repo);
    const r = await req(p.owner, 'PATCH', `${PROJECT}/${p.id}`, { githubRepo: null });
    expect(r.status).toBe(200);
    expect(r.body.data.githubRepo).toBeNull();
    expect(r.body.data).not.toHaveProperty('github');
    expect(await storedSecret(p.id)).toBeNull();
    const unlink = (await db.sql<{ changes: any }>(`select changes from project_audit_logs where project_id = $1 and action = 'project.update'`, [p.id])).rows;
    expect(unlink.map((a) => a.changes)).toEqual([{ before: { githubRepo: repo }, after: { githubRepo: null }, webhookSecret: 'cleared' }]);

    const deliveryId = crypto.randomUUID();
    const late = await deliver({ event: 'push', body: pushBody(repo), secret: p.secret, deliveryId });
    expect(late.status).toBe(401);
    expect(await delivered(deliveryId)).toBe(false);
    expect(await auditRows(p.id)).toEqual([]);

    const relinked = await req(p.owner, 'PATCH', `${PROJECT}/${p.id}`, { githubRepo: repo });
    const secret = relinked.body.data.github.webhookSecret as string;
    expect(secret).not.toBe(p.secret);
    expect((await deliver({ event: 'push', body: pushBody(repo), secret: p.secret })).status).toBe(401);
    expect((await deliver({ event: 'push', body: pushBody(repo), secret })).body.data.outcome).toBe('recorded');
  });
});

describe('POST /webhooks/v1/github: signature', () => {
  it('missing, malformed, forged or mismatched signatures → 401, and nothing is recorded', async () => {
    const repo = `octo-${suffix()}/hello`;
    const project = await linkedProject(repo);
    const SECRET = project.secret;
    const body = pushBody(repo);
    const deliveryId = crypto.randomUUID();
    const cases: Delivery[] = [
      { event: 'push', body, signature: null, deliveryId },
      { event: 'push', body, signature: '', deliveryId },
      { event: 'push', body, signature: `sha1=${await hmacSha256Hex(SECRET, body)}`, deliveryId },
      { event: 'push', body, signature: await hmacSha256Hex(SECRET, body), deliveryId }, // no "sha256=" prefix
      { event: 'push', body, secret: 'not-the-secret', deliveryId },
      { event: 'push', body, signature: `sha256=${await hmacSha256Hex(SECRET, body.replace('Add login', 'Add logout'))}`, deliveryId },
      { event: 'push', body, signature: `sha256=${'0'.repeat(64)}`, deliveryId },
      { event: 'push', body, secret: SECRET.toUpperCase(), deliveryId },
      { event: 'push', body, secret: SECRET.slice(0, -1), deliveryId },
    ];
    for (const d of cases) {
      const r = await deliver(d);
      expect(r.status, String(d.signature ?? d.secret)).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
    // the project's own secret signing a delivery for ANOTHER repository verifies nothing
    expect((await deliver({ event: 'push', body: pushBody(`other-${suffix()}/repo`), secret: SECRET })).status).toBe(401);
    expect(await auditRows(project.id)).toEqual([]);
    expect(await delivered(deliveryId)).toBe(false);
    // the same delivery correctly signed is then processed (a refused attempt did not burn the delivery id)
    expect((await deliver({ event: 'push', body, secret: SECRET, deliveryId })).body.data.outcome).toBe('recorded');
  });

  it('an HMAC under the empty key never verifies, not even for a linked project that has no secret', async () => {
    const repo = `empty-${suffix()}/app`;
    const p = await linkedProject(repo);
    // a repository linked before per-project secrets existed: github_repo set, no secret
    await db.sql(`update projects set github_webhook_secret = null where id = $1`, [p.id]);
    // HMAC under the empty key = HMAC under 64 zero bytes (short keys are zero-padded; Web Crypto refuses a 0-length key).
    for (const event of ['ping', 'push']) {
      const body = event === 'ping' ? JSON.stringify({ zen: 'x', hook_id: 1, repository: { full_name: repo } }) : pushBody(repo);
      for (const d of [{ secret: new Uint8Array(64) }, { secret: new Uint8Array(1) }, { secret: p.secret }, { signature: null }]) {
        const r = await deliver({ event, body, ...d });
        expect(r.status).toBe(401);
        expect(r.body.error.code).toBe('AUTH_REQUIRED');
      }
    }
    expect(await auditRows(p.id)).toEqual([]);
    // rotating gives it a secret again
    const rotated = await req(p.owner, 'POST', `${PROJECT}/${p.id}/github/rotate-secret`);
    expect((await deliver({ event: 'push', body: pushBody(repo), secret: rotated.body.data.webhookSecret })).body.data.outcome).toBe('recorded');
  });

  it('signature missing → 401 before anything else; signed but without X-GitHub-Event / X-GitHub-Delivery, or not JSON → 400', async () => {
    expect((await deliver({ body: JSON.stringify({ zen: 'x' }), signature: null })).status).toBe(401);
    expect((await deliver({ event: 'push', body: 'not json' })).status).toBe(400);
    const r = await deliver({ body: JSON.stringify({ zen: 'x' }) });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('POST /webhooks/v1/github: cross-tenant isolation', () => {
  it("a delivery signed with project A's secret reaches A only — never project B that linked the same repository with its own secret", async () => {
    const victim = await signUp(db, { firstName: 'Victim' });
    const attacker = await signUp(db, { firstName: 'Attacker' });
    const repo = `victim-${suffix()}/private-app`;
    const a = await linkedProject(repo, [victim]);
    const b = await linkedProject(repo.toUpperCase(), [attacker]); // the attacker links the victim's repository
    expect(b.secret).not.toBe(a.secret);

    const deliveryId = crypto.randomUUID();
    const r = await deliver({ event: 'push', body: pushBody(repo), secret: a.secret, deliveryId });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });
    expect(await auditRows(a.id)).toHaveLength(1);
    expect(await auditRows(b.id)).toEqual([]);
    const release = await deliver({ event: 'release', body: releaseBody(repo), secret: a.secret });
    expect(release.body.data.projects).toBe(1);
    expect(await auditRows(b.id)).toEqual([]);

    await db.events.drain();
    const notified = async (u: TestUser) => (await db.sql(`select 1 from notifications where user_id = $1 and type = 'UPDATE'`, [u.id])).rows.length;
    expect(await notified(victim)).toBe(2);
    expect(await notified(attacker)).toBe(0);

    // what B can sign with its own secret reaches B alone (it can only fool itself)
    const forged = await deliver({ event: 'push', body: pushBody(repo), secret: b.secret });
    expect(forged.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });
    expect(await auditRows(a.id)).toHaveLength(2); // A's own push and release only
    expect(await auditRows(b.id)).toHaveLength(1);
  });

  it('two projects the repository owner set up with the same secret both get it (each verified on its own)', async () => {
    const repo = `shared-${suffix()}/app`;
    const a = await linkedProject(repo);
    const b = await linkedProject(repo);
    // the owner pasted A's secret into B's settings too (two hooks, same key): simulate it directly
    await db.sql(`update projects set github_webhook_secret = $2 where id = $1`, [b.id, a.secret]);
    const r = await deliver({ event: 'push', body: pushBody(repo), secret: a.secret });
    expect(r.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 2 });
    expect(await auditRows(a.id)).toHaveLength(1);
    expect(await auditRows(b.id)).toHaveLength(1);
  });
});

describe('POST /webhooks/v1/github: events', () => {
  it('ping signed with a linked project\'s secret → 200 pong; unsigned-for-anyone, or without a repository → 401', async () => {
    const repo = `ping-${suffix()}/app`;
    const p = await linkedProject(repo);
    const body = JSON.stringify({ zen: 'Design for failure.', hook_id: 42, repository: { full_name: repo } });
    const r = await deliver({ event: 'ping', body, secret: p.secret });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'ping', outcome: 'pong', projects: 0 });
    expect((await deliver({ event: 'ping', body, secret: 'wrong' })).status).toBe(401);
    // an organization-level hook has no repository: no project secret can have signed it
    expect((await deliver({ event: 'ping', body: JSON.stringify({ zen: 'x', hook_id: 1 }), secret: p.secret })).status).toBe(401);
    expect(await auditRows(p.id)).toEqual([]);
  });

  it('push on any branch of a linked repo → audit row (actor null) + UPDATE notification to members who want it; replay is a no-op; nothing runs', async () => {
    const outbound = fakeFetch();
    const alice = await signUp(db, { firstName: 'Alice' });
    const bob = await signUp(db, { firstName: 'Bob' });
    const muted = await signUp(db);
    await db.sql(`update settings set settings = '{"notifications":{"teamActivity":false}}' where user_id = $1`, [muted.id]);
    const outsider = await signUp(db);
    const repo = `Octo-${suffix()}/Hello-World`;
    const { id: project, secret } = await linkedProject(repo, [alice, bob, muted]);

    const deliveryId = crypto.randomUUID();
    const body = pushBody(repo.toLowerCase()); // matched case-insensitively
    const r = await deliver({ event: 'push', body, secret, deliveryId });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });

    const rows = await auditRows(project);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_id: null, action: 'github.push', target_id: repo.toLowerCase() });
    expect(rows[0]!.changes).toMatchObject({ deliveryId, branch: 'feature/login', commitCount: 2, pusher: 'octocat' });
    expect(rows[0]!.changes.headCommit).toEqual({ id: 'a'.repeat(40), message: 'Wire the API', author: 'Octo Cat' });

    const replay = await deliver({ event: 'push', body, secret, deliveryId });
    expect(replay.status).toBe(200);
    expect(replay.body.data.outcome).toBe('duplicate');
    expect(await auditRows(project)).toHaveLength(1);
    // a replay with a bad signature is still refused (not "duplicate")
    expect((await deliver({ event: 'push', body, secret: 'wrong', deliveryId })).status).toBe(401);

    await db.events.drain();
    const notes = (
      await db.sql<{ user_id: string; type: string; title: string; message: string; action_url: string }>(
        `select user_id, type, title, message, action_url from notifications where metadata->>'projectId' = $1`,
        [project],
      )
    ).rows;
    expect(notes.map((n) => n.user_id).sort()).toEqual([alice.id, bob.id].sort());
    expect(notes.every((n) => n.type === 'UPDATE')).toBe(true);
    expect(notes[0]!.message).toContain('2 commits pushed to feature/login');
    expect(notes[0]!.action_url).toContain('https://github.com/');
    expect((await db.sql(`select 1 from notifications where user_id = any($1) and type = 'UPDATE'`, [[muted.id, outsider.id]])).rows).toHaveLength(0);
    expect(outbound.calls).toHaveLength(0);
  });

  it('release published → github.release; other release actions, tag pushes and other events are ignored', async () => {
    const member = await signUp(db);
    const repo = `rel-${suffix()}/app`;
    const { id: project, secret } = await linkedProject(repo, [member]);
    const r = await deliver({ event: 'release', body: releaseBody(repo), secret });
    expect(r.body.data).toEqual({ event: 'release', outcome: 'recorded', projects: 1 });
    expect((await deliver({ event: 'release', body: releaseBody(repo, 'created'), secret })).body.data.outcome).toBe('ignored');
    expect((await deliver({ event: 'push', body: pushBody(repo, { ref: 'refs/tags/v1.2.0' }), secret })).body.data.outcome).toBe('ignored');
    expect((await deliver({ event: 'issues', body: JSON.stringify({ action: 'opened', repository: { full_name: repo } }), secret })).body.data.outcome).toBe('ignored');
    const rows = await auditRows(project);
    expect(rows.map((x) => x.action)).toEqual(['github.release']);
    expect(rows[0]!.changes).toMatchObject({ tag: 'v1.2.0', name: 'Spring release' });
    await db.events.drain();
    const notes = (await db.sql<{ title: string; message: string }>(`select title, message from notifications where user_id = $1 and type = 'UPDATE'`, [member.id])).rows;
    expect(notes).toHaveLength(1);
    expect(notes[0]!.message).toContain('v1.2.0');
  });

  it('NUL in a commit message, pusher or release name is recorded without it (jsonb cannot hold U+0000), and notified', async () => {
    const member = await signUp(db);
    const repo = `nul-${suffix()}/app`;
    const { id: project, secret } = await linkedProject(repo, [member]);
    const push = pushBody(repo, {
      pusher: { name: 'octo\u0000cat' },
      head_commit: { id: 'c'.repeat(40), message: 'Fix\u0000 login', author: { name: 'Octo\u0000 Cat' } },
    });
    expect(push).toContain('\\u0000');
    const pushed = await deliver({ event: 'push', body: push, secret });
    expect(pushed.status).toBe(200);
    expect(pushed.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });
    const release = JSON.parse(releaseBody(repo));
    release.release.name = 'Spring\u0000 release';
    const released = await deliver({ event: 'release', body: JSON.stringify(release), secret });
    expect(released.body.data).toEqual({ event: 'release', outcome: 'recorded', projects: 1 });
    const rows = await auditRows(project);
    expect(rows[0]!.changes).toMatchObject({ pusher: 'octocat', headCommit: { id: 'c'.repeat(40), message: 'Fix login', author: 'Octo Cat' } });
    expect(rows[1]!.changes).toMatchObject({ name: 'Spring release' });
    await db.events.drain();
    expect((await db.sql(`select 1 from notifications where user_id = $1 and type = 'UPDATE'`, [member.id])).rows).toHaveLength(2);
  });

  it('an unlinked repository, a deleted project, or a project of a deleted team → the same 401; the delivery id is not stored', async () => {
    const deliveryId = crypto.randomUUID();
    const r = await deliver({ event: 'push', body: pushBody(`nobody-${suffix()}/nothing`), secret: 'anything', deliveryId });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('AUTH_REQUIRED');
    expect(await delivered(deliveryId)).toBe(false);

    const gone = await linkedProject(`gone-${suffix()}/app`);
    const goneRepo = (await db.sql<{ github_repo: string }>(`select github_repo from projects where id = $1`, [gone.id])).rows[0]!.github_repo;
    await db.sql(`update projects set deleted_at = now() where id = $1`, [gone.id]);
    expect((await deliver({ event: 'push', body: pushBody(goneRepo), secret: gone.secret })).status).toBe(401);

    const orphan = await linkedProject(`orphan-${suffix()}/app`);
    const orphanRepo = (await db.sql<{ github_repo: string }>(`select github_repo from projects where id = $1`, [orphan.id])).rows[0]!.github_repo;
    await db.sql(`update teams set deleted_at = now() where id = $1`, [orphan.teamId]);
    expect((await deliver({ event: 'push', body: pushBody(orphanRepo), secret: orphan.secret })).status).toBe(401);
    expect(await auditRows(gone.id)).toEqual([]);
    expect(await auditRows(orphan.id)).toEqual([]);
  });

  it('form-encoded deliveries (payload=…) are accepted; an invalid push payload → 400 (after verification) and does not burn the delivery id', async () => {
    const repo = `form-${suffix()}/app`;
    const { id: project, secret } = await linkedProject(repo);
    const body = new URLSearchParams({ payload: pushBody(repo) }).toString();
    const r = await deliver({ event: 'push', body, secret, contentType: 'application/x-www-form-urlencoded' });
    expect(r.body.data.outcome).toBe('recorded');
    expect(await auditRows(project)).toHaveLength(1);
    const deliveryId = crypto.randomUUID();
    const bad = await deliver({ event: 'push', body: JSON.stringify({ ref: 42, repository: { full_name: repo } }), secret, deliveryId });
    expect(bad.status).toBe(400);
    expect(await delivered(deliveryId)).toBe(false);
    // the same invalid payload signed by nobody is a 401, not a schema report
    expect((await deliver({ event: 'push', body: JSON.stringify({ ref: 42, repository: { full_name: repo } }), secret: 'wrong' })).status).toBe(401);
  });
  it('a failure while applying claims nothing: the redelivery of the same X-GitHub-Delivery is recorded, once', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const repo = `retry-${suffix()}/app`;
    const { id: project, secret } = await linkedProject(repo);
    const deliveryId = crypto.randomUUID();
    const body = pushBody(repo);
    // The audit row is written after the delivery is claimed: refusing it fails the delivery mid-way.
    await db.sql(`create or replace function test_refuse_github_audit() returns trigger language plpgsql as $$
      begin if new.project_id = '${project}' and new.action like 'github.%' then raise exception 'audit refused'; end if; return new; end $$`);
    await db.sql(`create trigger test_refuse_github_audit before insert on project_audit_logs for each row execute function test_refuse_github_audit()`);
    try {
      expect((await deliver({ event: 'push', body, secret, deliveryId })).status).toBe(500);
    } finally {
      await db.sql('drop trigger test_refuse_github_audit on project_audit_logs');
    }
    expect(await delivered(deliveryId)).toBe(false);
    expect(await auditRows(project)).toEqual([]);

    const redelivered = await deliver({ event: 'push', body, secret, deliveryId });
    expect(redelivered.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });
    expect(await delivered(deliveryId)).toBe(true);
    expect((await deliver({ event: 'push', body, secret, deliveryId })).body.data.outcome).toBe('duplicate');
    expect(await auditRows(project)).toHaveLength(1);
  });
});

describe('verification before any transaction, and a per-IP limit on webhook routes', () => {
  it('a forged delivery is refused without opening a transaction: it never waits on a row lock held elsewhere', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const repo = `octo-org/locked-${suffix()}`;
    const p = await linkedProject(repo);
    const pool = new Pool({ connectionString: db.url, max: 1 });
    const client = await pool.connect();
    try {
      // Another writer (an unlink, a rotation) holds the project row.
      await client.query('begin');
      await client.query('select id from projects where id = $1 for update', [p.id]);
      const started = Date.now();
      const forged = await Promise.race([
        deliver({ event: 'push', body: pushBody(repo), secret: 'x'.repeat(43) }),
        new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 4000)),
      ]);
      expect(forged === 'blocked' ? 'blocked' : forged.status).toBe(401);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await client.query('rollback');
      client.release();
      await pool.end();
    }
    // the genuine delivery still goes through once the lock is gone
    expect((await deliver({ event: 'push', body: pushBody(repo), secret: p.secret })).body.data).toMatchObject({ outcome: 'recorded', projects: 1 });
  });

  it('WEBHOOK_RATE_LIMIT_PER_MINUTE per source IP (an IPv6 /64 is one source), all webhook routes together → 429 with Retry-After; other sources unaffected', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const env = { ...db.env, WEBHOOK_RATE_LIMIT_PER_MINUTE: '3' } as Env;
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const forged = () => ({ event: 'push', body: pushBody(`octo-org/flood-${suffix()}`), secret: 'y'.repeat(43) });
    expect((await deliver(forged(), { env, ip: `${prefix}::1` })).status).toBe(401);
    expect((await deliver(forged(), { env, ip: `${prefix}::2` })).status).toBe(401);
    expect((await call(env, '/webhooks/v1/razorpay', { method: 'POST', raw: '{}', ip: `${prefix}:1:2:3:4`, headers: { 'Content-Type': 'application/json' } })).status).not.toBe(429);
    for (const path of ['/webhooks/v1/github', '/webhooks/v1/razorpay', '/webhooks/v1/clerk', '/webhooks/v1/qstash/payment-expiry']) {
      const r = await call(env, path, { method: 'POST', raw: '{}', ip: `${prefix}:ffff::9`, headers: { 'Content-Type': 'application/json' } });
      expect([path, r.status, r.body.error.code]).toEqual([path, 429, 'RATE_LIMITED']);
      expect(Number(r.headers.get('Retry-After'))).toBeGreaterThan(0);
    }
    expect((await deliver(forged(), { env, ip: '192.0.2.77' })).status).toBe(401);
  });
});
