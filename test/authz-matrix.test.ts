import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './helpers/db';
import { addProjectMember, addTeamMember, api, createOrg, createProject, createTeam, insertTeamInvite, memberWithRole, sha256Hex, unique, type Org } from './helpers/orgs';
import { signUp, type TestUser } from './helpers/users';

/*
 * The authorization matrix: every route of /organization, /team and /project × every persona, with the
 * status each must get. Personas, relative to one organization that has an INTERNAL team and an INTERNAL
 * project, all created by the Owner:
 *   owner       org Owner (creator; hence also team Owner and project Owner)
 *   coOwner     org Co-Owner            maintainer  org Maintainer          member   org Member
 *   otherOrg    Owner of ANOTHER organization (cross-tenant: guessing ids must look like random ids → 404)
 *   stranger    signed in, member of nothing          anonymous   no session → 401
 * Org-level personas hold no team role: their team/project rights come from the org role (inherited grants)
 * and visibility — exactly the layering authz.ts implements. Team-role layering (Admin / Member) is covered in
 * team.test.ts and project.test.ts.
 * Every persona gets a fresh world (fresh users, so per-user rate limits never interfere) for destructive
 * routes; other routes share one world per route and build per-call targets (a member to remove, an invite
 * to revoke, an invite addressed to the caller).
 */

const db = useTestDatabase();
const req = api(db);

const PERSONAS = ['owner', 'coOwner', 'maintainer', 'member', 'otherOrg', 'stranger', 'anonymous'] as const;
type Persona = (typeof PERSONAS)[number];

interface World {
  org: Org;
  team: { id: string; slug: string };
  project: { id: string; slug: string };
  users: Record<Exclude<Persona, 'anonymous'>, TestUser>;
}

let foreignOrg: Org;
beforeAll(async () => {
  foreignOrg = await createOrg(db, await signUp(db));
});

async function buildWorld(): Promise<World> {
  const owner = await signUp(db);
  const org = await createOrg(db, owner);
  const team = await createTeam(db, owner, org.id);
  const project = await createProject(db, owner, team.id);
  const [coOwner, maintainer, member, otherOrg, stranger] = await Promise.all([
    memberWithRole(db, org.id, 'Co-Owner'),
    memberWithRole(db, org.id, 'Maintainer'),
    memberWithRole(db, org.id, 'Member'),
    memberWithRole(db, foreignOrg.id, 'Owner'),
    signUp(db),
  ]);
  return { org, team, project, users: { owner, coOwner, maintainer, member, otherOrg, stranger } };
}

const emailOf = (w: World, p: Persona) => (p === 'anonymous' ? `${unique('anon')}@example.test` : w.users[p].email);

/** A pending organization invite for `email`, with a code the test knows. */
async function orgInviteFor(w: World, email: string): Promise<string> {
  const code = unique('orgcode').padEnd(43, 'x');
  await db.sql(
    `insert into organization_invites (org_id, email, role_id, code_hash, created_by, expires_at)
     select $1, $2, id, $3, $4, now() + interval '7 days' from organization_roles where org_id = $1 and name = 'Member'`,
    [w.org.id, email, await sha256Hex(code), w.users.owner.id],
  );
  return code;
}

/** The id of a pending organization invite for `email` (sent by the Owner). */
async function orgInviteIdFor(w: World, email: string): Promise<string> {
  await orgInviteFor(w, email);
  const { rows } = await db.sql<{ id: string }>(`select id from organization_invites where org_id = $1 and email = $2`, [w.org.id, email]);
  return rows[0]!.id;
}

/** A fresh org Member who is also a team Member — a target for the member-management routes. */
async function targetMember(w: World, inTeam = false): Promise<TestUser> {
  const u = await memberWithRole(db, w.org.id, 'Member');
  if (inTeam) await addTeamMember(db, w.team.id, u.id, 'Member');
  return u;
}

/** A fresh team Member (org Member) who is also a project member with `role` — a target for the project member routes. */
async function projectMemberTarget(w: World, role = 'Viewer'): Promise<TestUser> {
  const u = await targetMember(w, true);
  await addProjectMember(db, w.project.id, u.id, role);
  return u;
}

type Request = { path: string; json?: unknown };
interface Case {
  /** "METHOD /openapi/path" — matched against /openapi.json to prove every route is covered. */
  route: string;
  /** Destructive on success: every persona gets its own world. */
  fresh?: boolean;
  request: (w: World, p: Persona) => Promise<Request> | Request;
  /** Expected status for owner, coOwner, maintainer, member, otherOrg, stranger, anonymous. */
  expect: [number, number, number, number, number, number, number];
}

const O = '/api/v1/organization';
const T = '/api/v1/team';
const P = '/api/v1/project';
const newOrgBody = () => ({ name: unique('Org'), slug: unique('org') });

const CASES: Case[] = [
  // ── organization ──────────────────────────────────────  own  co   mnt  mem  oth  str  anon
  { route: `GET ${O}`, request: () => ({ path: O }), expect: [200, 200, 200, 200, 200, 200, 401] },
  { route: `POST ${O}`, request: () => ({ path: O, json: newOrgBody() }), expect: [201, 201, 201, 201, 201, 201, 401] },
  { route: `GET ${O}/{orgId}`, request: (w) => ({ path: `${O}/${w.org.id}` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `PATCH ${O}/{orgId}`, request: (w) => ({ path: `${O}/${w.org.slug}`, json: { description: unique('d') } }), expect: [200, 200, 403, 403, 404, 404, 401] },
  { route: `DELETE ${O}/{orgId}`, fresh: true, request: (w) => ({ path: `${O}/${w.org.id}` }), expect: [200, 403, 403, 403, 404, 404, 401] },
  { route: `GET ${O}/{orgId}/teams`, request: (w) => ({ path: `${O}/${w.org.id}/teams` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `GET ${O}/{orgId}/audit`, request: (w) => ({ path: `${O}/${w.org.id}/audit` }), expect: [200, 200, 403, 403, 404, 404, 401] },
  { route: `GET ${O}/{orgId}/members`, request: (w) => ({ path: `${O}/${w.org.id}/members` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  {
    route: `PATCH ${O}/{orgId}/members/{userId}`,
    request: async (w) => ({ path: `${O}/${w.org.id}/members/${(await targetMember(w)).id}`, json: { role: 'Maintainer' } }),
    expect: [200, 200, 403, 403, 404, 404, 401],
  },
  {
    route: `DELETE ${O}/{orgId}/members/{userId}`,
    request: async (w) => ({ path: `${O}/${w.org.id}/members/${(await targetMember(w)).id}` }),
    expect: [200, 200, 403, 403, 404, 404, 401],
  },
  { route: `GET ${O}/{orgId}/roles`, request: (w) => ({ path: `${O}/${w.org.id}/roles` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  {
    route: `POST ${O}/{orgId}/invite`,
    request: (w) => ({ path: `${O}/${w.org.id}/invite`, json: { email: `${unique('inv')}@example.test` } }),
    expect: [201, 201, 201, 403, 404, 404, 401],
  },
  { route: `GET ${O}/{orgId}/invites`, request: (w) => ({ path: `${O}/${w.org.id}/invites?status=all` }), expect: [200, 200, 200, 403, 404, 404, 401] },
  {
    route: `DELETE ${O}/{orgId}/invites/{inviteId}`,
    request: async (w) => ({ path: `${O}/${w.org.id}/invites/${await orgInviteIdFor(w, `${unique('r')}@example.test`)}` }),
    expect: [200, 200, 200, 403, 404, 404, 401],
  },
  // Email-bound, not role-bound: existing members → 409; anyone the invite was sent to → 200.
  {
    route: `POST ${O}/accept-invite`,
    request: async (w, p) => ({ path: `${O}/accept-invite`, json: { code: await orgInviteFor(w, emailOf(w, p)) } }),
    expect: [409, 409, 409, 409, 200, 200, 401],
  },

  // ── team ──────────────────────────────────────────────  own  co   mnt  mem  oth  str  anon
  { route: `POST ${T}`, request: (w) => ({ path: T, json: { orgId: w.org.id, name: unique('Team'), slug: unique('team') } }), expect: [201, 201, 201, 403, 404, 404, 401] },
  { route: `GET ${T}/{teamId}`, request: (w) => ({ path: `${T}/${w.team.id}` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `PATCH ${T}/{teamId}`, request: (w) => ({ path: `${T}/${w.team.slug}?orgId=${w.org.slug}`, json: { description: unique('d') } }), expect: [200, 200, 200, 403, 404, 404, 401] },
  { route: `DELETE ${T}/{teamId}`, fresh: true, request: (w) => ({ path: `${T}/${w.team.id}` }), expect: [200, 200, 403, 403, 404, 404, 401] },
  {
    route: `POST ${T}/invite`,
    request: (w) => ({ path: `${T}/invite`, json: { teamId: w.team.id, email: `${unique('inv')}@example.test` } }),
    expect: [201, 201, 201, 403, 404, 404, 401],
  },
  {
    route: `POST ${T}/invite/bulk`,
    request: (w) => ({ path: `${T}/invite/bulk`, json: { teamId: w.team.id, csv: `email\n${unique('a')}@example.test\n${unique('b')}@example.test` } }),
    expect: [201, 201, 201, 403, 404, 404, 401],
  },
  {
    route: `GET ${T}/invite/{code}`,
    request: async (w) => ({ path: `${T}/invite/${(await insertTeamInvite(db, w.team.id, `${unique('p')}@example.test`, w.users.owner.id)).code}` }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  // The owner already is a team member (409); everyone else joins (org membership included when missing).
  {
    route: `POST ${T}/accept-invite`,
    request: async (w, p) => ({ path: `${T}/accept-invite`, json: { code: (await insertTeamInvite(db, w.team.id, emailOf(w, p), w.users.owner.id)).code } }),
    expect: [409, 200, 200, 200, 200, 200, 401],
  },
  {
    route: `POST ${T}/decline-invite`,
    request: async (w, p) => ({ path: `${T}/decline-invite`, json: { code: (await insertTeamInvite(db, w.team.id, emailOf(w, p), w.users.owner.id)).code } }),
    expect: [200, 200, 200, 200, 200, 200, 401],
  },
  { route: `GET ${T}/{teamId}/invites`, request: (w) => ({ path: `${T}/${w.team.id}/invites?status=all` }), expect: [200, 200, 200, 403, 404, 404, 401] },
  {
    route: `DELETE ${T}/{teamId}/invites/{inviteId}`,
    request: async (w) => ({ path: `${T}/${w.team.id}/invites/${(await insertTeamInvite(db, w.team.id, `${unique('r')}@example.test`, w.users.owner.id)).id}` }),
    expect: [200, 200, 200, 403, 404, 404, 401],
  },
  { route: `GET ${T}/{teamId}/members`, request: (w) => ({ path: `${T}/${w.team.id}/members` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  // Making a team Member an Admin needs every Admin permission: an org Maintainer lacks project:delete and more.
  {
    route: `PATCH ${T}/{teamId}/members/{userId}`,
    request: async (w) => ({ path: `${T}/${w.team.id}/members/${(await targetMember(w, true)).id}`, json: { role: 'Admin' } }),
    expect: [200, 200, 403, 403, 404, 404, 401],
  },
  {
    route: `DELETE ${T}/{teamId}/members/{userId}`,
    request: async (w) => ({ path: `${T}/${w.team.id}/members/${(await targetMember(w, true)).id}` }),
    expect: [200, 200, 200, 403, 404, 404, 401],
  },
  { route: `GET ${T}/{teamId}/roles`, request: (w) => ({ path: `${T}/${w.team.id}/roles` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `GET ${T}/{teamId}/projects`, request: (w) => ({ path: `${T}/${w.team.id}/projects` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `GET ${T}/{teamId}/audit`, request: (w) => ({ path: `${T}/${w.team.id}/audit` }), expect: [200, 200, 403, 403, 404, 404, 401] },

  // ── project ───────────────────────────────────────────  own  co   mnt  mem  oth  str  anon
  { route: `POST ${P}`, request: (w) => ({ path: P, json: { teamId: w.team.id, name: unique('Proj'), slug: unique('proj') } }), expect: [201, 201, 201, 403, 404, 404, 401] },
  { route: `GET ${P}/{projectId}`, request: (w) => ({ path: `${P}/${w.project.id}` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  { route: `PATCH ${P}/{projectId}`, request: (w) => ({ path: `${P}/${w.project.slug}?teamId=${w.team.id}`, json: { description: unique('d') } }), expect: [200, 200, 200, 403, 404, 404, 401] },
  { route: `DELETE ${P}/{projectId}`, fresh: true, request: (w) => ({ path: `${P}/${w.project.id}` }), expect: [200, 200, 403, 403, 404, 404, 401] },
  {
    route: `POST ${P}/{projectId}/github/rotate-secret`,
    request: async (w) => {
      await db.sql(`update projects set github_repo = 'fairarena/api' where id = $1`, [w.project.id]); // needs a linked repository
      return { path: `${P}/${w.project.id}/github/rotate-secret` };
    },
    expect: [200, 200, 200, 403, 404, 404, 401],
  },

  // ── project members (org-level personas: Owner = project Owner; Co-Owner inherits project:*; Maintainer
  //    and Member read the INTERNAL project but cannot manage its members) ──  own  co   mnt  mem  oth  str  anon
  { route: `GET ${P}/{projectId}/members`, request: (w) => ({ path: `${P}/${w.project.id}/members` }), expect: [200, 200, 200, 200, 404, 404, 401] },
  {
    route: `POST ${P}/{projectId}/members`,
    request: async (w) => ({ path: `${P}/${w.project.id}/members`, json: { userId: (await targetMember(w, true)).id, role: 'Viewer' } }),
    expect: [201, 201, 403, 403, 404, 404, 401],
  },
  {
    route: `PATCH ${P}/{projectId}/members/{userId}`,
    request: async (w) => ({ path: `${P}/${w.project.id}/members/${(await projectMemberTarget(w)).id}`, json: { role: 'Editor' } }),
    expect: [200, 200, 403, 403, 404, 404, 401],
  },
  {
    route: `DELETE ${P}/{projectId}/members/{userId}`,
    request: async (w) => ({ path: `${P}/${w.project.slug}/members/${(await projectMemberTarget(w)).id}?teamId=${w.team.id}` }),
    expect: [200, 200, 403, 403, 404, 404, 401],
  },
  { route: `GET ${P}/{projectId}/roles`, request: (w) => ({ path: `${P}/${w.project.id}/roles` }), expect: [200, 200, 200, 200, 404, 404, 401] },
];

async function run(c: Case, w: World, p: Persona): Promise<number> {
  const [method] = c.route.split(' ');
  const r = await c.request(w, p);
  const res = await req(p === 'anonymous' ? undefined : w.users[p], method!, r.path, r.json);
  return res.status;
}

describe('authorization matrix', () => {
  it('covers every route of /organization, /team and /project in the OpenAPI document', async () => {
    const doc = (await req(undefined, 'GET', '/openapi.json')).body;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => /^\/api\/v1\/(organization|team|project)(\/|$)/.test(path))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(CASES.map((c) => c.route).sort()).toEqual(documented.sort());
  });

  for (const c of CASES) {
    it(c.route, async () => {
      const actual: Record<string, number> = {};
      if (c.fresh) {
        await Promise.all(PERSONAS.map(async (p) => void (actual[p] = await run(c, await buildWorld(), p))));
      } else {
        const w = await buildWorld();
        await Promise.all(PERSONAS.map(async (p) => void (actual[p] = await run(c, w, p))));
      }
      const expected = Object.fromEntries(PERSONAS.map((p, i) => [p, c.expect[i]]));
      expect(actual).toEqual(expected);
    });
  }
});

describe('cross-tenant id guessing', () => {
  it('ids of another tenant answer exactly like random ids (404, same message), also when mixed with the caller’s own ids', async () => {
    const mine = await buildWorld();
    const theirs = await buildWorld();
    const me = mine.users.owner;
    const pairs: [string, string][] = [
      [`${O}/${theirs.org.id}`, `${O}/${crypto.randomUUID()}`],
      [`${T}/${theirs.team.id}`, `${T}/${crypto.randomUUID()}`],
      [`${P}/${theirs.project.id}`, `${P}/${crypto.randomUUID()}`],
      [`${T}/${theirs.team.slug}?orgId=${mine.org.id}`, `${T}/no-such-team?orgId=${mine.org.id}`],
      [`${P}/${theirs.project.id}?teamId=${mine.team.id}`, `${P}/${crypto.randomUUID()}?teamId=${mine.team.id}`],
      [`${O}/${mine.org.id}/members/${theirs.users.owner.id}`, `${O}/${mine.org.id}/members/user_nobody`],
      [`${P}/${theirs.project.id}/members`, `${P}/${crypto.randomUUID()}/members`],
      [`${P}/${mine.project.id}/members/${theirs.users.owner.id}`, `${P}/${mine.project.id}/members/user_nobody`],
    ];
    for (const [guess, random] of pairs) {
      const method = guess.includes('/members/') ? 'DELETE' : 'GET';
      const a = await req(me, method, guess);
      const b = await req(me, method, random);
      expect([guess, a.status, a.body.error.code, a.body.error.message]).toEqual([guess, b.status, b.body.error.code, b.body.error.message]);
      expect(a.status).toBe(404);
    }
    // an invite of their team cannot be revoked through my team
    const inv = await insertTeamInvite(db, theirs.team.id, `${unique('x')}@example.test`, theirs.users.owner.id);
    expect((await req(me, 'DELETE', `${T}/${mine.team.id}/invites/${inv.id}`)).status).toBe(404);
    // a project of their team cannot be created in by naming their team
    expect((await req(me, 'POST', P, { teamId: theirs.team.id, name: 'X', slug: unique('x') })).status).toBe(404);
  });
});
