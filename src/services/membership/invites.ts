import { and, asc, count, desc, eq } from 'drizzle-orm';
import { organizationMembers, teamInvites, users } from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import { withTransaction, type ServiceContext } from '../context';
import { audit } from './audit';
import type { OrgTarget, TeamTarget } from './authz';
import { invalidateOrgLists, limitedCaller } from './caller';
import { displayName, iso, isoOrNull, type Paging } from './format';
import { hashInviteCode } from './invite-codes';
import { assertInviterStillAuthorized, callerEmail, findInvite, type FoundInvite } from './invite-lookup';
import { withInviteMailCap } from './invite-mail-cap';
import { insertInvites, prepareInvites, type InviteView, type RowErrorCode } from './invite-rows';
import { assertEmailMatches, assertUsable, inviteStatus, statusCondition, type InviteStatusFilter } from './invite-status';
import { ORG_JOIN_ROLE } from './permissions';
import { resolveRole, scopeMemberIds } from './queries';
import { authorizeScope } from './scope-access';
import { inviteScope, scope as describe, scopeOf, type InviteScope } from './scopes';

/*
 * Invitations to an organization or a team, written once for both: create, list, revoke, accept; teams
 * also preview and decline. Codes: invite-codes.ts; bulk lists: invite-bulk.ts; mailing: invite-mint.ts.
 */

type InviteTarget = OrgTarget | TeamTarget;
const inviteScopeOf = (target: InviteTarget) => scopeOf(target) as InviteScope;

export interface CreateInviteInput {
  email: string;
  role?: string;
  expiresInDays: number;
}

/**
 * POST /organization/:orgId/invite — `org:members:invite`; POST /team/invite — `team:members:invite`. With
 * a role the caller could hold themself; 409 for a member or an email with a pending invite.
 */
export async function createInvite(ctx: ServiceContext, input: CreateInviteInput & { target: InviteTarget }): Promise<InviteView> {
  await limitedCaller(ctx, 'orgUpdate');
  const s = inviteScopeOf(input.target);
  return withInviteMailCap(ctx, (reserveMail) =>
    withTransaction(ctx, async (_tx, ctx) => {
      const a = await authorizeScope(ctx, { target: input.target, permission: inviteScope(s).permission, lock: true });
      const { ok, errors } = await prepareInvites(ctx, { scope: s, scopeId: a.id, held: a.held, entries: [{ email: input.email, role: input.role }] });
      const problem = (code: RowErrorCode) => errors[0]?.errors.find((e) => e.code === code);
      const noun = describe(s).noun;
      if (problem('UNKNOWN_ROLE')) {
        throw new AppError('VALIDATION_ERROR', `Unknown role "${input.role}" for this ${noun}`, { details: { issues: [{ path: 'role', message: `not a role of this ${noun}` }] } });
      }
      const notGrantable = problem('ROLE_NOT_GRANTABLE');
      if (notGrantable) throw new AppError('FORBIDDEN', `${notGrantable.message[0]!.toUpperCase()}${notGrantable.message.slice(1)}: it needs permissions you do not hold`);
      if (problem('ALREADY_MEMBER')) throw new AppError('CONFLICT', `This person is already a member of the ${noun}`);
      if (problem('PENDING_INVITE')) throw new AppError('CONFLICT', 'A pending invitation for this email already exists');
      if (errors.length) throw new AppError('VALIDATION_ERROR', errors[0]!.errors[0]!.message);
      const [invite] = await insertInvites(ctx, { scope: s, scopeId: a.id, orgId: a.orgId, reserveMail, prepared: ok, expiresInDays: input.expiresInDays, bulk: false });
      return invite!;
    }),
  );
}

/** GET …/invites — the scope's invite permission (pending invites name people). Never the code. */
export async function listInvites(ctx: ServiceContext, input: { target: InviteTarget; status: InviteStatusFilter } & Paging): Promise<{ items: InviteView[]; total: number }> {
  await limitedCaller(ctx, 'orgRead');
  const s = inviteScopeOf(input.target);
  const a = await authorizeScope(ctx, { target: input.target, permission: inviteScope(s).permission });
  const { invites: t, scopeId: scopeColumn, declinedAt } = inviteScope(s);
  const { roles } = describe(s);
  const where = and(eq(scopeColumn, a.id), statusCondition(s, input.status));
  const db = ctx.db.write;
  const [rows, [total]] = await Promise.all([
    db
      .select({
        id: t.id,
        email: t.email,
        roleId: t.roleId,
        roleName: roles.name,
        expiresAt: t.expiresAt,
        createdAt: t.createdAt,
        createdBy: t.createdBy,
        usedAt: t.usedAt,
        revokedAt: t.revokedAt,
        declinedAt,
        firstName: users.firstName,
        lastName: users.lastName,
        username: users.username,
      })
      .from(t)
      .innerJoin(roles, eq(roles.id, t.roleId))
      .leftJoin(users, eq(users.id, t.createdBy))
      .where(where)
      .orderBy(desc(t.createdAt), asc(t.id))
      .limit(input.limit)
      .offset(input.offset),
    db.select({ n: count() }).from(t).where(where),
  ]);
  const now = new Date();
  return {
    total: total?.n ?? 0,
    items: rows.map((r) => ({
      id: r.id,
      email: r.email,
      role: { id: r.roleId, name: r.roleName },
      status: inviteStatus(r, now),
      expiresAt: iso(r.expiresAt),
      createdAt: iso(r.createdAt),
      invitedBy: { id: r.createdBy, name: displayName(r) },
      usedAt: isoOrNull(r.usedAt),
    })),
  };
}

/** DELETE …/invites/:inviteId — the scope's invite permission; a used, declined or revoked invite → 409; accepting it afterwards → 410. */
export async function revokeInvite(ctx: ServiceContext, input: { target: InviteTarget; inviteId: string }): Promise<{ id: string; status: 'revoked' }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const s = inviteScopeOf(input.target);
  await withTransaction(ctx, async (_tx, ctx) => {
    const a = await authorizeScope(ctx, { target: input.target, permission: inviteScope(s).permission, lock: true });
    const { invites: t, scopeId: scopeColumn, declinedAt } = inviteScope(s);
    const [invite] = await ctx.db.write
      .select({ id: t.id, email: t.email, usedAt: t.usedAt, revokedAt: t.revokedAt, declinedAt, expiresAt: t.expiresAt })
      .from(t)
      .where(and(eq(t.id, input.inviteId), eq(scopeColumn, a.id)))
      .for('update');
    if (!invite) throw new AppError('NOT_FOUND', 'Invitation not found');
    const status = inviteStatus(invite);
    if (status === 'used' || status === 'declined' || status === 'revoked') {
      throw new AppError('CONFLICT', `This invitation is already ${status}`, { details: { status } });
    }
    await ctx.db.write.update(t).set({ revokedAt: new Date() }).where(eq(t.id, invite.id));
    await audit(ctx, { scope: s, scopeId: a.id, actorId: userId, action: 'invite.revoke', targetType: 'invite', targetId: invite.id, changes: { email: invite.email } });
  });
  return { id: input.inviteId, status: 'revoked' };
}

/** The invite behind a code, locked (see findInvite); 404 for an unknown code or a deleted scope. */
async function lockedByCode(ctx: ServiceContext, s: InviteScope, code: string): Promise<FoundInvite> {
  const found = await findInvite(ctx, { scope: s, where: eq(inviteScope(s).invites.codeHash, await hashInviteCode(code)), lock: true });
  if (!found) throw new AppError('NOT_FOUND', 'Invitation not found');
  return found;
}

type Named = { id: string; name: string; slug: string };
export interface AcceptedOrgInvite {
  organization: Named;
  role: { id: string; name: string };
}
export interface AcceptedTeamInvite extends AcceptedOrgInvite {
  team: Named;
}

/**
 * POST /organization/accept-invite, POST /team/accept-invite — the signed-in user whose email the invite
 * was sent to, while its inviter may still send it. One transaction: lock the invite (after its scope, see
 * findInvite), check both, add the membership — for a team also the organization membership (Member role)
 * when they have none yet, as team membership requires it — mark the invite used, audit.
 */
export async function acceptInvite(ctx: ServiceContext, input: { scope: 'organization'; code: string }): Promise<AcceptedOrgInvite>;
export async function acceptInvite(ctx: ServiceContext, input: { scope: 'team'; code: string }): Promise<AcceptedTeamInvite>;
export async function acceptInvite(ctx: ServiceContext, input: { scope: InviteScope; code: string }): Promise<AcceptedOrgInvite | AcceptedTeamInvite> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const s = input.scope;
  const d = describe(s);
  return withTransaction(ctx, async (_tx, ctx) => {
    const found = await lockedByCode(ctx, s, input.code);
    const { invite, org, team, role } = found;
    assertUsable(invite);
    assertEmailMatches(invite.email, await callerEmail(ctx, userId));
    await assertInviterStillAuthorized(ctx, { scope: s, found });
    const scopeId = team?.id ?? org.id;
    const db = ctx.db.write;
    const joinedOrg =
      s === 'team' &&
      (
        await db
          .insert(organizationMembers)
          .values({ orgId: org.id, userId, roleId: (await resolveRole(ctx, { scope: 'organization', scopeId: org.id, ref: ORG_JOIN_ROLE })).id })
          .onConflictDoNothing({ target: [organizationMembers.orgId, organizationMembers.userId] })
          .returning({ id: organizationMembers.id })
      ).length > 0;
    const inserted = await db
      .insert(d.members)
      .values({ [d.scopeKey]: scopeId, userId, roleId: role.id } as typeof d.members.$inferInsert)
      .onConflictDoNothing({ target: [d.memberScopeId, d.members.userId] })
      .returning({ id: d.members.id });
    if (inserted.length === 0) throw new AppError('CONFLICT', `You are already a member of this ${d.noun}`);
    const t = inviteScope(s).invites;
    await db.update(t).set({ usedAt: new Date(), usedBy: userId }).where(eq(t.id, invite.id));
    const accepted = { actorId: userId, targetType: 'user', targetId: userId };
    await audit(ctx, [
      { scope: s, scopeId, action: 'invite.accept', ...accepted, changes: { inviteId: invite.id, after: { role: role.name } } },
      ...(joinedOrg
        ? [{ scope: 'organization' as const, scopeId: org.id, action: 'member.join', ...accepted, changes: { via: { teamId: scopeId, inviteId: invite.id }, after: { role: ORG_JOIN_ROLE } } }]
        : []),
    ]);
    if (team) await emit(ctx.db.tx!, ctx.events, 'team.member_joined', { teamId: team.id, userId });
    // Organization lists show member counts: everyone's changes when the organization gained a member.
    if (s === 'organization' || joinedOrg) {
      const affected = await scopeMemberIds(ctx, { scope: 'organization', scopeId: org.id });
      ctx.afterCommit(() => invalidateOrgLists(ctx, affected));
    }
    const result = { organization: { id: org.id, name: org.name, slug: org.slug }, role: { id: role.id, name: role.name } };
    return team ? { ...result, team } : result;
  });
}

/** POST /team/decline-invite — the invitee only; the invite can no longer be used. */
export async function declineTeamInvite(ctx: ServiceContext, code: string): Promise<{ declined: true }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  await withTransaction(ctx, async (_tx, ctx) => {
    const { invite, team } = await lockedByCode(ctx, 'team', code);
    assertUsable(invite);
    assertEmailMatches(invite.email, await callerEmail(ctx, userId));
    await ctx.db.write.update(teamInvites).set({ declinedAt: new Date() }).where(eq(teamInvites.id, invite.id));
    await audit(ctx, { scope: 'team', scopeId: team!.id, actorId: userId, action: 'invite.decline', targetType: 'invite', targetId: invite.id, changes: { email: invite.email } });
  });
  return { declined: true };
}

/** GET /team/invite/:code — public preview: organization, team, role and expiry only. */
export async function previewTeamInvite(ctx: ServiceContext, code: string) {
  const found = await findInvite(ctx, { scope: 'team', where: eq(inviteScope('team').invites.codeHash, await hashInviteCode(code)) });
  if (!found) throw new AppError('NOT_FOUND', 'Invitation not found');
  assertUsable(found.invite);
  await assertInviterStillAuthorized(ctx, { scope: 'team', found });
  return {
    organization: { name: found.org.name, slug: found.org.slug },
    team: { name: found.team!.name, slug: found.team!.slug },
    role: { name: found.role.name },
    expiresAt: iso(found.invite.expiresAt),
  };
}
