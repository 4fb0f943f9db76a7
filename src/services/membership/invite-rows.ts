import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { users } from '../../db/schema';
import { emit } from '../../events/outbox';
import type { ServiceContext } from '../context';
import { audit } from './audit';
import { iso, isUuid } from './format';
import { unusableHash } from './invite-codes';
import type { InviteEntry } from './invite-csv';
import type { ReserveInviteMail } from './invite-mail-cap';
import type { InviteStatus } from './invite-status';
import { statusCondition } from './invite-status';
import { DEFAULT_ORG_INVITE_ROLE, DEFAULT_TEAM_INVITE_ROLE } from './permissions';
import { scope as describe, inviteScope, type InviteScope } from './scopes';

/*
 * Creating invitations, one or many, in an organization or a team: every requested invite is validated
 * against the scope before any is created, then all are created, audited and announced (one event each,
 * whose handler mints the code and mails it) in the caller's transaction.
 */

export const ROW_ERROR_CODES = ['INVALID_EMAIL', 'UNKNOWN_ROLE', 'ROLE_NOT_GRANTABLE', 'DUPLICATE', 'ALREADY_MEMBER', 'PENDING_INVITE'] as const;
export type RowErrorCode = (typeof ROW_ERROR_CODES)[number];

export interface RowError {
  /** 1-based position in the list (for CSV: the data row, the header not counted). */
  row: number;
  email: string | null;
  errors: { code: RowErrorCode; message: string }[];
}

export interface InviteView {
  id: string;
  email: string;
  role: { id: string; name: string };
  status: InviteStatus;
  expiresAt: string;
  createdAt: string;
  invitedBy: { id: string; name: string | null } | null;
  usedAt: string | null;
}

export interface PreparedInvite {
  email: string;
  roleId: string;
  roleName: string;
}

const EmailSchema = z.email().max(254);
const DEFAULT_ROLE: Record<InviteScope, string> = { organization: DEFAULT_ORG_INVITE_ROLE, team: DEFAULT_TEAM_INVITE_ROLE };
const DAY_MS = 86_400_000;

/**
 * Validate every requested invite against the scope before creating any: email, a role of this scope, a
 * role the caller may hand out (`held`), not twice in the request, not already a member, no pending invite.
 */
export async function prepareInvites(
  ctx: ServiceContext,
  input: { scope: InviteScope; scopeId: string; held: ReadonlySet<string>; entries: InviteEntry[] },
): Promise<{ ok: PreparedInvite[]; errors: RowError[] }> {
  const { scope: s, scopeId, held, entries } = input;
  const d = describe(s);
  const { invites: t, scopeId: inviteScopeId } = inviteScope(s);
  const db = ctx.db.write;
  const [roles, memberRows, pendingRows] = [
    await db.select().from(d.roles).where(eq(d.roleScopeId, scopeId)),
    await db
      .select({ email: users.email })
      .from(d.members)
      .innerJoin(users, and(eq(users.id, d.members.userId), isNull(users.deletedAt)))
      .where(eq(d.memberScopeId, scopeId)),
    await db.select({ email: t.email }).from(t).where(and(eq(inviteScopeId, scopeId), statusCondition(s, 'pending'))),
  ];
  const byId = new Map(roles.map((r) => [r.id, r]));
  const byName = new Map(roles.map((r) => [r.name.toLowerCase(), r]));
  const members = new Set(memberRows.map((r) => r.email.toLowerCase()));
  const pending = new Set(pendingRows.map((r) => r.email.toLowerCase()));
  const seen = new Map<string, number>();
  const ok: PreparedInvite[] = [];
  const errors: RowError[] = [];
  entries.forEach((entry, i) => {
    const email = entry.email.trim().toLowerCase();
    const problems: RowError['errors'] = [];
    const problem = (code: RowErrorCode, message: string) => problems.push({ code, message });
    if (!EmailSchema.safeParse(email).success) problem('INVALID_EMAIL', 'invalid email address');
    const roleRef = entry.role?.trim() || DEFAULT_ROLE[s];
    const role = isUuid(roleRef) ? byId.get(roleRef.toLowerCase()) : byName.get(roleRef.toLowerCase());
    if (!role) problem('UNKNOWN_ROLE', `unknown role "${roleRef}"`);
    else if (role.permissions.some((p) => !held.has(p))) problem('ROLE_NOT_GRANTABLE', `you cannot invite someone as ${role.name}`);
    if (seen.has(email)) problem('DUPLICATE', `duplicate of row ${seen.get(email)! + 1}`);
    else seen.set(email, i);
    if (members.has(email)) problem('ALREADY_MEMBER', `already a member of the ${d.noun}`);
    if (pending.has(email)) problem('PENDING_INVITE', 'a pending invitation for this email already exists');
    if (problems.length) errors.push({ row: i + 1, email: email || null, errors: problems });
    else ok.push({ email, roleId: role!.id, roleName: role!.name });
  });
  return { ok, errors };
}

/** Create prepared invites (after reserving their mail under the cap), audit them and emit one event each. */
export async function insertInvites(
  ctx: ServiceContext,
  input: { scope: InviteScope; scopeId: string; orgId: string; reserveMail: ReserveInviteMail; prepared: PreparedInvite[]; expiresInDays: number; bulk: boolean },
): Promise<InviteView[]> {
  const { scope: s, scopeId, prepared } = input;
  const userId = ctx.userId!;
  const { invites: t, event } = inviteScope(s);
  const d = describe(s);
  await input.reserveMail(input.orgId, prepared.length);
  const expiresAt = new Date(Date.now() + input.expiresInDays * DAY_MS);
  const values = await Promise.all(
    prepared.map(async (p) => ({ [d.scopeKey]: scopeId, email: p.email, roleId: p.roleId, codeHash: await unusableHash(), expiresAt, createdBy: userId })),
  );
  const rows = await ctx.db.write
    .insert(t)
    .values(values as (typeof t.$inferInsert)[])
    .returning();
  const roleName = new Map(prepared.map((p) => [p.roleId, p.roleName]));
  await audit(
    ctx,
    rows.map((r) => ({
      scope: s,
      scopeId,
      actorId: userId,
      action: 'invite.create',
      targetType: 'invite',
      targetId: r.id,
      changes: { after: { email: r.email, role: roleName.get(r.roleId), expiresAt: iso(r.expiresAt) }, ...(input.bulk ? { bulk: true } : {}) },
    })),
  );
  for (const r of rows) await emit(ctx.db.tx!, ctx.events, event, { inviteId: r.id });
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    role: { id: r.roleId, name: roleName.get(r.roleId)! },
    status: 'pending' as const,
    expiresAt: iso(r.expiresAt),
    createdAt: iso(r.createdAt),
    invitedBy: { id: userId, name: null },
    usedAt: null,
  }));
}
