import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Env } from '../src/config';
import { hmacSha256Hex } from '../src/lib/crypto';
import { useTestDatabase } from './helpers/db';
import { fakeFetch } from './helpers/fake-fetch';
import { call } from './helpers/http';
import { signUp, type TestUser } from './helpers/users';

const db = useTestDatabase();
afterEach(() => vi.restoreAllMocks());

const SECRET = 'test-github-webhook-secret'; // vitest.config.ts bindings
const suffix = () => crypto.randomUUID().slice(0, 8);

interface Delivery {
  event?: string;
  body: string;
  secret?: string | Uint8Array;
  signature?: string | null;
  deliveryId?: string;
  contentType?: string;
  env?: Env;
}

async function deliver(d: Delivery) {
  const headers: Record<string, string> = { 'Content-Type': d.contentType ?? 'application/json', 'User-Agent': 'GitHub-Hookshot/abc123' };
  if (d.event !== undefined) headers['X-GitHub-Event'] = d.event;
  headers['X-GitHub-Delivery'] = d.deliveryId ?? crypto.randomUUID();
  const signature = d.signature === undefined ? `sha256=${await hmacSha256Hex(d.secret ?? SECRET, d.body)}` : d.signature;
  if (signature !== null) headers['X-Hub-Signature-256'] = signature;
  return call(d.env ?? db.env, '/webhooks/v1/github', { method: 'POST', raw: d.body, headers });
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

/** A project linked to `repo`, with the given members. */
async function linkedProject(repo: string, members: TestUser[]) {
  const creator = members[0] ?? (await signUp(db));
  const org = (await db.sql<{ id: string }>(`insert into organizations (name, slug) values ($1, $2) returning id`, [`Org ${suffix()}`, `org-${suffix()}`])).rows[0]!.id;
  const team = (await db.sql<{ id: string }>(`insert into teams (org_id, name, slug) values ($1, $2, $3) returning id`, [org, `Team ${suffix()}`, `team-${suffix()}`])).rows[0]!.id;
  const project = (
    await db.sql<{ id: string }>(`insert into projects (team_id, name, slug, created_by, github_repo) values ($1, 'Hello World', $2, $3, $4) returning id`, [
      team,
      `hello-${suffix()}`,
      creator.id,
      repo,
    ])
  ).rows[0]!.id;
  const role = (await db.sql<{ id: string }>(`insert into project_roles (project_id, name) values ($1, 'Member') returning id`, [project])).rows[0]!.id;
  for (const m of members) await db.sql(`insert into project_members (project_id, user_id, role_id) values ($1, $2, $3)`, [project, m.id, role]);
  return project;
}

const auditRows = async (projectId: string) =>
  (await db.sql<{ actor_id: string | null; action: string; target_id: string; changes: Record<string, any> }>(
    `select actor_id, action, target_id, changes from project_audit_logs where project_id = $1 order by created_at`,
    [projectId],
  )).rows;

describe('POST /webhooks/v1/github: signature', () => {
  it('is refused while GITHUB_WEBHOOK_SECRET is unset, even with an HMAC under the empty key (defect #6)', async () => {
    const env = { ...db.env, GITHUB_WEBHOOK_SECRET: '' } as Env;
    const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    // HMAC under the empty key = HMAC under 64 zero bytes (short keys are zero-padded; Web Crypto refuses a 0-length key).
    const r = await deliver({ env, event: 'ping', body, secret: new Uint8Array(64) });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect((await deliver({ env, event: 'ping', body, signature: null })).status).toBe(503);
  });

  it('missing, malformed, forged or mismatched signatures → 401, and nothing is recorded', async () => {
    const repo = `octo-${suffix()}/hello`;
    const project = await linkedProject(repo, [await signUp(db)]);
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
    ];
    for (const d of cases) {
      const r = await deliver(d);
      expect(r.status, String(d.signature)).toBe(401);
      expect(r.body.error.code).toBe('AUTH_REQUIRED');
    }
    expect(await auditRows(project)).toEqual([]);
    expect((await db.sql(`select 1 from webhook_deliveries where delivery_id = $1`, [deliveryId])).rows).toHaveLength(0);
    // the same delivery correctly signed is then processed (a refused attempt did not burn the delivery id)
    expect((await deliver({ event: 'push', body, deliveryId })).body.data.outcome).toBe('recorded');
  });

  it('a signed body that is not JSON, or without X-GitHub-Event → 400', async () => {
    expect((await deliver({ event: 'push', body: 'not json' })).status).toBe(400);
    const r = await deliver({ body: JSON.stringify({ zen: 'x' }) });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_ERROR');
  });
});

describe('POST /webhooks/v1/github: events', () => {
  it('ping → 200 pong', async () => {
    const r = await deliver({ event: 'ping', body: JSON.stringify({ zen: 'Design for failure.', hook_id: 42 }) });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'ping', outcome: 'pong', projects: 0 });
  });

  it('push on any branch of a linked repo → audit row (actor null) + UPDATE notification to members who want it; replay is a no-op; nothing runs', async () => {
    const outbound = fakeFetch();
    const alice = await signUp(db, { firstName: 'Alice' });
    const bob = await signUp(db, { firstName: 'Bob' });
    const muted = await signUp(db);
    await db.sql(`update settings set settings = '{"notifications":{"teamActivity":false}}' where user_id = $1`, [muted.id]);
    const outsider = await signUp(db);
    const repo = `Octo-${suffix()}/Hello-World`;
    const project = await linkedProject(repo, [alice, bob, muted]);

    const deliveryId = crypto.randomUUID();
    const body = pushBody(repo.toLowerCase()); // matched case-insensitively
    const r = await deliver({ event: 'push', body, deliveryId });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'push', outcome: 'recorded', projects: 1 });

    const rows = await auditRows(project);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_id: null, action: 'github.push', target_id: repo.toLowerCase() });
    expect(rows[0]!.changes).toMatchObject({ deliveryId, branch: 'feature/login', commitCount: 2, pusher: 'octocat' });
    expect(rows[0]!.changes.headCommit).toEqual({ id: 'a'.repeat(40), message: 'Wire the API', author: 'Octo Cat' });

    const replay = await deliver({ event: 'push', body, deliveryId });
    expect(replay.status).toBe(200);
    expect(replay.body.data.outcome).toBe('duplicate');
    expect(await auditRows(project)).toHaveLength(1);

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
    const project = await linkedProject(repo, [member]);
    const r = await deliver({ event: 'release', body: releaseBody(repo) });
    expect(r.body.data).toEqual({ event: 'release', outcome: 'recorded', projects: 1 });
    expect((await deliver({ event: 'release', body: releaseBody(repo, 'created') })).body.data.outcome).toBe('ignored');
    expect((await deliver({ event: 'push', body: pushBody(repo, { ref: 'refs/tags/v1.2.0' }) })).body.data.outcome).toBe('ignored');
    expect((await deliver({ event: 'issues', body: JSON.stringify({ action: 'opened', repository: { full_name: repo } }) })).body.data.outcome).toBe('ignored');
    const rows = await auditRows(project);
    expect(rows.map((x) => x.action)).toEqual(['github.release']);
    expect(rows[0]!.changes).toMatchObject({ tag: 'v1.2.0', name: 'Spring release' });
    await db.events.drain();
    const notes = (await db.sql<{ title: string; message: string }>(`select title, message from notifications where user_id = $1 and type = 'UPDATE'`, [member.id])).rows;
    expect(notes).toHaveLength(1);
    expect(notes[0]!.message).toContain('v1.2.0');
  });

  it('an unlinked repository is stored (delivery id) and ignored; a deleted project is not linked', async () => {
    const deliveryId = crypto.randomUUID();
    const r = await deliver({ event: 'push', body: pushBody(`nobody-${suffix()}/nothing`), deliveryId });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ event: 'push', outcome: 'ignored', projects: 0 });
    expect((await db.sql(`select source from webhook_deliveries where delivery_id = $1`, [deliveryId])).rows).toEqual([{ source: 'github' }]);

    const repo = `gone-${suffix()}/app`;
    const project = await linkedProject(repo, [await signUp(db)]);
    await db.sql(`update projects set deleted_at = now() where id = $1`, [project]);
    expect((await deliver({ event: 'push', body: pushBody(repo) })).body.data.outcome).toBe('ignored');
  });

  it('form-encoded deliveries (payload=…) are accepted; an invalid push payload → 400', async () => {
    const repo = `form-${suffix()}/app`;
    const project = await linkedProject(repo, [await signUp(db)]);
    const body = new URLSearchParams({ payload: pushBody(repo) }).toString();
    const r = await deliver({ event: 'push', body, contentType: 'application/x-www-form-urlencoded' });
    expect(r.body.data.outcome).toBe('recorded');
    expect(await auditRows(project)).toHaveLength(1);
    const bad = await deliver({ event: 'push', body: JSON.stringify({ ref: 42 }) });
    expect(bad.status).toBe(400);
  });
});
