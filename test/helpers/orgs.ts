import { Redis } from '@upstash/redis/cloudflare';
import type { TestDatabase } from './db';
import { call, type CallResult } from './http';
import { signUp, type TestUser } from './users';

/** Shorthand for an API call as `user` (undefined = anonymous). */
export function api(db: TestDatabase) {
  return (user: TestUser | undefined, method: string, path: string, json?: unknown): Promise<CallResult> =>
    call(db.env, path, { method, token: user?.token, ...(json === undefined ? {} : { json }) });
}

let n = 0;
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${(n++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/**
 * Forget every rate-limit counter of this file's namespace. Tests that build many fixtures through the
 * API as one user call it between steps; tests of the limits themselves do not.
 */
export async function resetLimits(db: TestDatabase): Promise<void> {
  const redis = new Redis({ url: db.env.UPSTASH_REDIS_REST_URL as string, token: db.env.UPSTASH_REDIS_REST_TOKEN as string });
  const keys = await redis.keys(`${db.env.CACHE_NAMESPACE as string}:rl:org*`);
  if (keys.length) await redis.del(...keys);
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface Org {
  id: string;
  slug: string;
  name: string;
}

/** POST /organization as `owner`. */
export async function createOrg(db: TestDatabase, owner: TestUser, overrides: Record<string, unknown> = {}): Promise<Org> {
  const slug = unique('org');
  const r = await api(db)(owner, 'POST', '/api/v1/organization', { name: `Org ${slug}`, slug, ...overrides });
  if (r.status !== 201) throw new Error(`createOrg: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data;
}

export async function createTeam(db: TestDatabase, user: TestUser, orgId: string, overrides: Record<string, unknown> = {}) {
  const slug = unique('team');
  const r = await api(db)(user, 'POST', '/api/v1/team', { orgId, name: `Team ${slug}`, slug, ...overrides });
  if (r.status !== 201) throw new Error(`createTeam: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as { id: string; slug: string; name: string };
}

export async function createProject(db: TestDatabase, user: TestUser, teamId: string, overrides: Record<string, unknown> = {}) {
  const slug = unique('proj');
  const r = await api(db)(user, 'POST', '/api/v1/project', { teamId, name: `Project ${slug}`, slug, ...overrides });
  if (r.status !== 201) throw new Error(`createProject: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as { id: string; slug: string; name: string };
}

/** Make `user` a member of the org with the named role, directly in the database. */
export async function addOrgMember(db: TestDatabase, orgId: string, userId: string, role: string): Promise<void> {
  await db.sql(
    `insert into organization_members (org_id, user_id, role_id) select $1, $2, id from organization_roles where org_id = $1 and name = $3`,
    [orgId, userId, role],
  );
}

/** Make `user` a member of the team with the named team role, directly in the database (org membership is the caller's business). */
export async function addTeamMember(db: TestDatabase, teamId: string, userId: string, role: string): Promise<void> {
  await db.sql(`insert into team_members (team_id, user_id, role_id) select $1, $2, id from team_roles where team_id = $1 and name = $3`, [
    teamId,
    userId,
    role,
  ]);
}

/** A new user who is a member of `orgId` with `role`. */
export async function memberWithRole(db: TestDatabase, orgId: string, role: string, fields: Parameters<typeof signUp>[1] = {}): Promise<TestUser> {
  const user = await signUp(db, fields);
  await addOrgMember(db, orgId, user.id, role);
  return user;
}

/** A pending team invite written directly to the database, with a code the test knows. */
export async function insertTeamInvite(
  db: TestDatabase,
  teamId: string,
  email: string,
  createdBy: string,
  options: { role?: string; code?: string; expired?: boolean } = {},
): Promise<{ id: string; code: string }> {
  const code = options.code ?? btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/[+/=]/g, (c) => (c === '+' ? '-' : c === '/' ? '_' : ''));
  const expiry = options.expired ? [`now() - interval '8 days'`, `now() - interval '1 day'`] : ['now()', `now() + interval '7 days'`];
  const { rows } = await db.sql<{ id: string }>(
    `insert into team_invites (team_id, email, role_id, code_hash, created_by, created_at, expires_at)
     select $1, $2, id, $3, $4, ${expiry[0]}, ${expiry[1]} from team_roles where team_id = $1 and name = $5 returning id`,
    [teamId, email.toLowerCase(), await sha256Hex(code), createdBy, options.role ?? 'Member'],
  );
  return { id: rows[0]!.id, code };
}

/** Deliver pending events, then read the invite code out of the newest invite email to `to`. */
export async function inviteCodeFromMailbox(db: TestDatabase, to: string, kind: 'team' | 'organization' = 'team'): Promise<string> {
  await db.events.drain();
  const { rows } = await db.sql<{ text: string }>(`select text from dev_emails where "to" = $1 order by created_at desc limit 1`, [to.toLowerCase()]);
  const match = rows[0]?.text.match(new RegExp(`/invite/${kind}/([A-Za-z0-9_-]+)`));
  if (!match) throw new Error(`no ${kind} invite email to ${to}`);
  return match[1]!;
}

/** Make `user` a member of the project with the named project role, directly in the database (team membership is the caller's business). */
export async function addProjectMember(db: TestDatabase, projectId: string, userId: string, role: string): Promise<void> {
  await db.sql(`insert into project_members (project_id, user_id, role_id) select $1, $2, id from project_roles where project_id = $1 and name = $3`, [
    projectId,
    userId,
    role,
  ]);
}
