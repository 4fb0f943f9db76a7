import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import { organizations, teams, users } from '../../db/schema';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { authorize, lockHierarchy } from './authz';
import { displayName } from './format';
import { assertCanGrant } from './grants';
import { scope as describe, inviteScope, type InviteScope } from './scopes';

/*
 * Finding an invite (by its code's hash or by id) with its scope and role, for previews, acceptance,
 * declines and minting; and the rule that an invite speaks for its inviter.
 */

export interface FoundInvite {
  invite: {
    id: string;
    email: string;
    roleId: string;
    createdBy: string;
    expiresAt: Date;
    usedAt: Date | null;
    revokedAt: Date | null;
    declinedAt: Date | null;
  };
  org: { id: string; name: string; slug: string };
  team: { id: string; name: string; slug: string } | null;
  role: { id: string; name: string; permissions: string[] };
  inviterName: string | null;
}

/**
 * The invite matching `where` (a condition on the scope's invite table), in a live organization / team.
 * `lock`: first its organization and team FOR SHARE — top-down, the order membership changes lock in, so a
 * concurrent removal or demotion of the inviter (or of the invitee's membership) runs wholly before or
 * after — then the invite itself FOR UPDATE.
 */
export async function findInvite(ctx: ServiceContext, input: { scope: InviteScope; where: SQL; lock?: boolean }): Promise<FoundInvite | null> {
  const db = ctx.db.write;
  const { invites: t, scopeId } = inviteScope(input.scope);
  const { roles } = describe(input.scope);
  const team = input.scope === 'team';
  if (input.lock) {
    const [ref] = team
      ? await db.select({ orgId: teams.orgId, teamId: teams.id }).from(t).innerJoin(teams, eq(teams.id, scopeId)).where(input.where)
      : await db.select({ orgId: scopeId, teamId: scopeId }).from(t).where(input.where);
    if (!ref) return null;
    await lockHierarchy(ctx, { ids: { org: ref.orgId, team: team ? ref.teamId : null, project: null }, exceptTarget: false });
  }
  const base = db
    .select({
      invite: t,
      declinedAt: inviteScope(input.scope).declinedAt,
      org: { id: organizations.id, name: organizations.name, slug: organizations.slug },
      teamId: team ? teams.id : sql<string | null>`null`,
      teamName: team ? teams.name : sql<string | null>`null`,
      teamSlug: team ? teams.slug : sql<string | null>`null`,
      role: { id: roles.id, name: roles.name, permissions: roles.permissions },
      firstName: users.firstName,
      lastName: users.lastName,
      username: users.username,
    })
    .from(t)
    .$dynamic();
  const scoped = team
    ? base.innerJoin(teams, and(eq(teams.id, scopeId), isNull(teams.deletedAt))).innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    : base.innerJoin(organizations, and(eq(organizations.id, scopeId), isNull(organizations.deletedAt)));
  const q = scoped.innerJoin(roles, eq(roles.id, t.roleId)).leftJoin(users, eq(users.id, t.createdBy)).where(input.where).limit(1);
  const [row] = input.lock ? await q.for('update', { of: t }) : await q;
  if (!row) return null;
  return {
    invite: { ...row.invite, declinedAt: row.declinedAt },
    org: row.org,
    team: row.teamId ? { id: row.teamId, name: row.teamName!, slug: row.teamSlug! } : null,
    role: row.role,
    inviterName: displayName(row),
  };
}

/**
 * An invite speaks for its inviter: it is void once they could no longer send it — removed from the scope,
 * demoted below the invite permission, account deleted, or the role it grants now beyond their own.
 * Checked when the invite is mailed, previewed and accepted (410 GONE, details.status 'void').
 */
export async function assertInviterStillAuthorized(ctx: ServiceContext, input: { scope: InviteScope; found: FoundInvite }): Promise<void> {
  const { invite, org, team, role } = input.found;
  const [inviter] = await ctx.db.write.select({ deletedAt: users.deletedAt }).from(users).where(eq(users.id, invite.createdBy));
  try {
    if (!inviter || inviter.deletedAt) throw new AppError('NOT_FOUND', 'Inviter not found');
    const held =
      input.scope === 'team'
        ? (await authorize(ctx, { target: { team: team!.id }, permission: 'team:members:invite', userId: invite.createdBy })).permissions
        : (await authorize(ctx, { target: { org: org.id }, permission: 'org:members:invite', userId: invite.createdBy })).orgRole.permissions;
    assertCanGrant(held, { permissions: role.permissions, what: 'grant this role' });
  } catch (err) {
    if (!(err instanceof AppError) || (err.code !== 'NOT_FOUND' && err.code !== 'FORBIDDEN')) throw err;
    throw new AppError('GONE', 'This invitation is no longer valid: the person who sent it can no longer invite you to this role', { details: { status: 'void' } });
  }
}

/** The signed-in user's email, lower-cased ('' when the account is gone). */
export async function callerEmail(ctx: ServiceContext, userId: string): Promise<string> {
  const [u] = await ctx.db.write.select({ email: users.email }).from(users).where(eq(users.id, userId));
  return (u?.email ?? '').toLowerCase();
}
