import { and, asc, count, desc, eq, gt, isNotNull, isNull, lte, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Database, Transaction } from '../../db/client';
import {
  organizationAuditLogs,
  organizationInvites,
  organizationMembers,
  organizationRoles,
  organizations,
  teamAuditLogs,
  teamInvites,
  teamMembers,
  teamRoles,
  teams,
  users,
} from '../../db/schema';
import { emit } from '../../events/outbox';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { audit } from './audit';
import { assertCanGrant, authorize, isUuid, type TeamTarget } from './authz';
import { withInviteMailCap, type ReserveInviteMail } from './invite-mail-cap';
import { resolveOrgRole, type Paging } from './organizations';
import { DEFAULT_ORG_INVITE_ROLE, DEFAULT_TEAM_INVITE_ROLE, ORG_JOIN_ROLE } from './permissions';
import { displayName, invalidateOrgLists, iso, isoOrNull, limitedCaller, orgMemberIds } from './shared';

/*
 * ── Invite codes: who ever sees the plaintext? ──────────────────────────────────────────────────────
 * A code is 32 random bytes (crypto.getRandomValues, 256 bits) as base64url; the database stores only its
 * SHA-256 hex (code_hash). The plaintext must reach the invitee's mailbox, and emails are sent only by queue
 * handlers, whose event payloads carry ids and no secrets. Rather than smuggling the code through the outbox
 * and the queue (and scrubbing it afterwards), or encrypting it under a new secret, the code is MINTED BY THE
 * EMAIL HANDLER:
 *   1. the request creates the invite with the hash of a throw-away random value that nobody ever knows
 *      (so the row satisfies its CHECK/UNIQUE constraints but no code can match it yet), and emits
 *      `organization.invited` / `team.invited` with the invite id only;
 *   2. the handler, in its transaction (the one that also marks the event processed), generates the code,
 *      stores its hash on the still-pending invite and sends the email containing the link. A rollback undoes
 *      both; a redelivery of a processed event does nothing.
 * The plaintext exists only in the handler's memory and in the email: never in a table, the outbox, the
 * queue, a dead letter, a log or an API response. If the provider accepted the email but the transaction
 * then failed to commit, the retry mints a new code and sends a second email (the idempotency key includes
 * the hash, so the provider does not swallow it); the first email's link is then dead — the invitee uses
 * the newer one. An invite whose email could not be sent is simply unusable; revoke it and invite again.
 */

export type InviteStatus = 'pending' | 'used' | 'expired' | 'declined' | 'revoked';
export type InviteScope = 'organization' | 'team';

const DAY_MS = 86_400_000;

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** A fresh invite code: 32 random bytes, base64url (43 characters). */
export function newInviteCode(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** SHA-256 hex of a code (what code_hash stores). */
export async function hashInviteCode(code: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(code));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Hash of a value nobody knows: an invite is unusable until the email handler mints its code. */
const unusableHash = () => hashInviteCode(newInviteCode());

interface InviteRowLike {
  usedAt: Date | null;
  revokedAt: Date | null;
  declinedAt?: Date | null;
  expiresAt: Date;
}

export function inviteStatus(i: InviteRowLike, now = new Date()): InviteStatus {
  if (i.usedAt) return 'used';
  if (i.revokedAt) return 'revoked';
  if (i.declinedAt) return 'declined';
  if (i.expiresAt <= now) return 'expired';
  return 'pending';
}

/** 410 GONE for an invite that can no longer be used (checked before the email, as the code is the bearer). */
function assertUsable(i: InviteRowLike): void {
  const status = inviteStatus(i);
  if (status === 'pending') return;
  const message = {
    used: 'This invitation has already been used',
    expired: 'This invitation has expired',
    declined: 'This invitation was declined',
    revoked: 'This invitation was revoked',
  }[status];
  throw new AppError('GONE', message, { details: { status } });
}

async function callerEmail(tx: Transaction, userId: string): Promise<string> {
  const [u] = await tx.select({ email: users.email }).from(users).where(eq(users.id, userId));
  return (u?.email ?? '').toLowerCase();
}

function assertEmailMatches(inviteEmail: string, mine: string): void {
  if (inviteEmail.toLowerCase() !== mine) {
    throw new AppError('FORBIDDEN', 'This invitation was sent to a different email address');
  }
}

/**
 * An invite speaks for its inviter: it is void once they could no longer send it — removed from the scope,
 * demoted below the invite permission, account deleted, or the role it grants now beyond their own.
 * Checked when the invite is mailed, previewed and accepted (410 GONE, details.status 'void').
 */
async function assertInviterStillAuthorized(
  db: Database | Transaction,
  scope: { org: string } | { team: string },
  invite: { createdBy: string },
  rolePermissions: readonly string[],
): Promise<void> {
  const [inviter] = await db.select({ deletedAt: users.deletedAt }).from(users).where(eq(users.id, invite.createdBy));
  try {
    if (!inviter || inviter.deletedAt) throw new AppError('NOT_FOUND', 'Inviter not found');
    const held =
      'org' in scope
        ? (await authorize(db, invite.createdBy, scope, 'org:members:invite')).orgRole.permissions
        : (await authorize(db, invite.createdBy, scope, 'team:members:invite')).permissions;
    assertCanGrant(held, rolePermissions, 'grant this role');
  } catch (err) {
    if (!(err instanceof AppError) || (err.code !== 'NOT_FOUND' && err.code !== 'FORBIDDEN')) throw err;
    throw new AppError('GONE', 'This invitation is no longer valid: the person who sent it can no longer invite you to this role', { details: { status: 'void' } });
  }
}

/** The columns organization and team invites share (organization invites cannot be declined). */
const INVITE_TABLES = {
  organization: { invites: organizationInvites, roles: organizationRoles, scopeId: organizationInvites.orgId, declinedAt: sql<Date | null>`null` },
  team: { invites: teamInvites, roles: teamRoles, scopeId: teamInvites.teamId, declinedAt: teamInvites.declinedAt },
};
/** Typed as the organization tables to build one query for either scope (the columns used exist in both). */
const inviteTablesOf = (scope: InviteScope) =>
  INVITE_TABLES[scope] as unknown as { invites: typeof organizationInvites; roles: typeof organizationRoles; scopeId: typeof organizationInvites.orgId; declinedAt: SQL<Date | null> };

export type InviteStatusFilter = InviteStatus | 'all';

function statusCondition(scope: InviteScope, status: InviteStatusFilter): SQL | undefined {
  const { invites: t, declinedAt } = inviteTablesOf(scope);
  const unresolved = and(isNull(t.usedAt), isNull(t.revokedAt), isNull(declinedAt));
  switch (status) {
    case 'pending':
      return and(unresolved, gt(t.expiresAt, sql`now()`));
    case 'used':
      return isNotNull(t.usedAt);
    case 'expired':
      return and(unresolved, lte(t.expiresAt, sql`now()`));
    case 'declined':
      return isNotNull(declinedAt);
    case 'revoked':
      return isNotNull(t.revokedAt);
    case 'all':
      return undefined;
  }
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

// ───────────────────────────── organization invites ─────────────────────────────

export interface CreateInviteInput {
  email: string;
  role?: string;
  expiresInDays: number;
}

/** POST /organization/:orgId/invite — `org:members:invite`, with a role the caller could hold themself. */
export async function createOrgInvite(ctx: ServiceContext, orgRef: string, input: CreateInviteInput): Promise<InviteView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const email = input.email.toLowerCase();
  return withInviteMailCap(ctx, (reserveMail) => ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, { org: orgRef }, 'org:members:invite', { lock: true });
    const role = await resolveOrgRole(tx, a.org.id, input.role ?? DEFAULT_ORG_INVITE_ROLE);
    assertCanGrant(a.orgRole.permissions, role.permissions, `invite someone as ${role.name}`);
    const [member] = await tx
      .select({ id: organizationMembers.id })
      .from(organizationMembers)
      .innerJoin(users, and(eq(users.id, organizationMembers.userId), isNull(users.deletedAt)))
      .where(and(eq(organizationMembers.orgId, a.org.id), eq(users.email, email)))
      .limit(1);
    if (member) throw new AppError('CONFLICT', 'This person is already a member of the organization');
    const [pending] = await tx
      .select({ id: organizationInvites.id })
      .from(organizationInvites)
      .where(
        and(
          eq(organizationInvites.orgId, a.org.id),
          eq(organizationInvites.email, email),
          isNull(organizationInvites.usedAt),
          isNull(organizationInvites.revokedAt),
          gt(organizationInvites.expiresAt, sql`now()`),
        ),
      )
      .limit(1);
    if (pending) throw new AppError('CONFLICT', 'A pending invitation for this email already exists');
    await reserveMail(a.org.id, 1);
    const [invite] = await tx
      .insert(organizationInvites)
      .values({ orgId: a.org.id, email, roleId: role.id, codeHash: await unusableHash(), expiresAt: new Date(Date.now() + input.expiresInDays * DAY_MS), createdBy: userId })
      .returning();
    await audit(tx, 'organization', a.org.id, {
      actorId: userId,
      action: 'invite.create',
      targetType: 'invite',
      targetId: invite!.id,
      changes: { after: { email, role: role.name, expiresAt: iso(invite!.expiresAt) } },
    });
    await emit(tx, ctx.events, 'organization.invited', { inviteId: invite!.id });
    return {
      id: invite!.id,
      email,
      role: { id: role.id, name: role.name },
      status: 'pending' as const,
      expiresAt: iso(invite!.expiresAt),
      createdAt: iso(invite!.createdAt),
      invitedBy: { id: userId, name: null },
      usedAt: null,
    };
  }));
}

/**
 * POST /organization/accept-invite — the signed-in user whose email the invite was sent to, while its
 * inviter may still send it. One transaction: lock the organization (FOR SHARE: member removals and role
 * changes, which lock it FOR UPDATE, run wholly before or after) and the invite, check both, add the
 * membership, mark the invite used, audit.
 */
export async function acceptOrgInvite(ctx: ServiceContext, code: string) {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const codeHash = await hashInviteCode(code);
  const { result, members } = await ctx.db.write.transaction(async (tx) => {
    const [ref] = await tx.select({ orgId: organizationInvites.orgId }).from(organizationInvites).where(eq(organizationInvites.codeHash, codeHash));
    if (!ref) throw new AppError('NOT_FOUND', 'Invitation not found');
    await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, ref.orgId)).for('share');
    const [row] = await tx
      .select({ invite: organizationInvites, org: organizations, role: organizationRoles })
      .from(organizationInvites)
      .innerJoin(organizations, and(eq(organizations.id, organizationInvites.orgId), isNull(organizations.deletedAt)))
      .innerJoin(organizationRoles, eq(organizationRoles.id, organizationInvites.roleId))
      .where(eq(organizationInvites.codeHash, codeHash))
      .for('update', { of: organizationInvites });
    if (!row) throw new AppError('NOT_FOUND', 'Invitation not found');
    assertUsable(row.invite);
    assertEmailMatches(row.invite.email, await callerEmail(tx, userId));
    await assertInviterStillAuthorized(tx, { org: row.org.id }, row.invite, row.role.permissions);
    const inserted = await tx
      .insert(organizationMembers)
      .values({ orgId: row.org.id, userId, roleId: row.role.id })
      .onConflictDoNothing({ target: [organizationMembers.orgId, organizationMembers.userId] })
      .returning({ id: organizationMembers.id });
    if (inserted.length === 0) throw new AppError('CONFLICT', 'You are already a member of this organization');
    await tx.update(organizationInvites).set({ usedAt: new Date(), usedBy: userId }).where(eq(organizationInvites.id, row.invite.id));
    await audit(tx, 'organization', row.org.id, {
      actorId: userId,
      action: 'invite.accept',
      targetType: 'user',
      targetId: userId,
      changes: { inviteId: row.invite.id, after: { role: row.role.name } },
    });
    return {
      members: await orgMemberIds(tx, row.org.id),
      result: { organization: { id: row.org.id, name: row.org.name, slug: row.org.slug }, role: { id: row.role.id, name: row.role.name } },
    };
  });
  await invalidateOrgLists(ctx, members);
  return result;
}

// ───────────────────────────── team invites ─────────────────────────────

export interface InviteEntry {
  email: string;
  role?: string;
}

export type BulkInput = { invites: InviteEntry[] } | { csv: string };

export const ROW_ERROR_CODES = ['INVALID_EMAIL', 'UNKNOWN_ROLE', 'ROLE_NOT_GRANTABLE', 'DUPLICATE', 'ALREADY_MEMBER', 'PENDING_INVITE'] as const;
export type RowErrorCode = (typeof ROW_ERROR_CODES)[number];

export interface RowError {
  /** 1-based position in the list (for CSV: the data row, the header not counted). */
  row: number;
  email: string | null;
  errors: { code: RowErrorCode; message: string }[];
}

export const MAX_INVITES_PER_CALL = 100;
export const MAX_CSV_ROWS = 1000;

const EmailSchema = z.email().max(254);

/** Minimal RFC 4180 line splitter: quoted fields may contain commas and doubled quotes. */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur.trim() === '') {
      quoted = true;
      cur = '';
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** CSV text with a header row naming `email` and optionally `role` (columns in any order). */
export function parseInviteCsv(csv: string): InviteEntry[] {
  const lines = csv.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
  const invalid = (message: string, extra: Record<string, unknown> = {}) =>
    new AppError('VALIDATION_ERROR', message, { details: { issues: [{ path: 'csv', message }], ...extra } });
  if (lines.length < 2) throw invalid('The CSV needs a header row (email,role) and at least one data row');
  const header = splitCsvLine(lines[0]!).map((h) => h.toLowerCase());
  const emailCol = header.indexOf('email');
  const roleCol = header.indexOf('role');
  if (emailCol < 0) throw invalid('The CSV header must name an "email" column (and optionally "role")');
  const rows = lines.slice(1);
  if (rows.length > MAX_CSV_ROWS) throw invalid(`The CSV has ${rows.length} rows; at most ${MAX_CSV_ROWS} are accepted`);
  return rows.map((line) => {
    const cells = splitCsvLine(line);
    const role = roleCol >= 0 ? cells[roleCol] : undefined;
    return { email: cells[emailCol] ?? '', ...(role ? { role } : {}) };
  });
}

interface PreparedInvite {
  email: string;
  roleId: string;
  roleName: string;
}

/**
 * Validate every requested invite against the team before creating any: email, role of this team, a
 * role the caller may hand out, not twice in the request, not already a member, no pending invite.
 */
async function prepareTeamInvites(tx: Transaction, team: { id: string }, held: ReadonlySet<string>, entries: InviteEntry[]): Promise<{ ok: PreparedInvite[]; errors: RowError[] }> {
  const roles = await tx.select().from(teamRoles).where(eq(teamRoles.teamId, team.id));
  const byId = new Map(roles.map((r) => [r.id, r]));
  const byName = new Map(roles.map((r) => [r.name.toLowerCase(), r]));
  const emails = entries.map((e) => e.email.trim().toLowerCase());
  const members = new Set(
    (
      await tx
        .select({ email: users.email })
        .from(teamMembers)
        .innerJoin(users, and(eq(users.id, teamMembers.userId), isNull(users.deletedAt)))
        .where(eq(teamMembers.teamId, team.id))
    ).map((r) => r.email.toLowerCase()),
  );
  const pending = new Set(
    (
      await tx
        .select({ email: teamInvites.email })
        .from(teamInvites)
        .where(and(eq(teamInvites.teamId, team.id), statusCondition('team', 'pending')))
    ).map((r) => r.email.toLowerCase()),
  );
  const seen = new Map<string, number>();
  const ok: PreparedInvite[] = [];
  const errors: RowError[] = [];
  entries.forEach((entry, i) => {
    const email = emails[i]!;
    const problems: RowError['errors'] = [];
    const problem = (code: RowErrorCode, message: string) => problems.push({ code, message });
    if (!EmailSchema.safeParse(email).success) problem('INVALID_EMAIL', 'invalid email address');
    const roleRef = entry.role?.trim() || DEFAULT_TEAM_INVITE_ROLE;
    const role = isUuid(roleRef) ? byId.get(roleRef.toLowerCase()) : byName.get(roleRef.toLowerCase());
    if (!role) problem('UNKNOWN_ROLE', `unknown role "${roleRef}"`);
    else if (role.permissions.some((p) => !held.has(p))) problem('ROLE_NOT_GRANTABLE', `you cannot invite someone as ${role.name}`);
    if (seen.has(email)) problem('DUPLICATE', `duplicate of row ${seen.get(email)! + 1}`);
    else seen.set(email, i);
    if (members.has(email)) problem('ALREADY_MEMBER', 'already a member of the team');
    if (pending.has(email)) problem('PENDING_INVITE', 'a pending invitation for this email already exists');
    if (problems.length) errors.push({ row: i + 1, email: email || null, errors: problems });
    else ok.push({ email, roleId: role!.id, roleName: role!.name });
  });
  return { ok, errors };
}

async function insertTeamInvites(
  tx: Transaction,
  ctx: ServiceContext,
  reserveMail: ReserveInviteMail,
  userId: string,
  team: { id: string; orgId: string },
  prepared: PreparedInvite[],
  expiresInDays: number,
  bulk: boolean,
): Promise<InviteView[]> {
  await reserveMail(team.orgId, prepared.length);
  const expiresAt = new Date(Date.now() + expiresInDays * DAY_MS);
  const rows = await tx
    .insert(teamInvites)
    .values(await Promise.all(prepared.map(async (p) => ({ teamId: team.id, email: p.email, roleId: p.roleId, codeHash: await unusableHash(), expiresAt, createdBy: userId }))))
    .returning();
  const roleName = new Map(prepared.map((p) => [p.roleId, p.roleName]));
  await tx.insert(teamAuditLogs).values(
    rows.map((r) => ({
      teamId: team.id,
      actorId: userId,
      action: 'invite.create',
      targetType: 'invite',
      targetId: r.id,
      changes: { after: { email: r.email, role: roleName.get(r.roleId), expiresAt: iso(r.expiresAt) }, ...(bulk ? { bulk: true } : {}) },
    })),
  );
  for (const r of rows) await emit(tx, ctx.events, 'team.invited', { inviteId: r.id });
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

/** POST /team/invite — `team:members:invite`; 409 for a member or an email with a pending invite. */
export async function createTeamInvite(ctx: ServiceContext, target: TeamTarget, input: CreateInviteInput): Promise<InviteView> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withInviteMailCap(ctx, (reserveMail) => ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, target, 'team:members:invite', { lock: true });
    const { ok, errors } = await prepareTeamInvites(tx, a.team, a.permissions, [{ email: input.email, role: input.role }]);
    const problem = (code: RowErrorCode) => errors[0]?.errors.find((e) => e.code === code);
    const unknownRole = problem('UNKNOWN_ROLE');
    if (unknownRole) throw new AppError('VALIDATION_ERROR', unknownRole.message, { details: { issues: [{ path: 'role', message: 'not a role of this team' }] } });
    const notGrantable = problem('ROLE_NOT_GRANTABLE');
    if (notGrantable) throw new AppError('FORBIDDEN', `${notGrantable.message[0]!.toUpperCase()}${notGrantable.message.slice(1)}: it needs permissions you do not hold`);
    if (problem('ALREADY_MEMBER')) throw new AppError('CONFLICT', 'This person is already a member of the team');
    if (problem('PENDING_INVITE')) throw new AppError('CONFLICT', 'A pending invitation for this email already exists');
    if (errors.length) throw new AppError('VALIDATION_ERROR', errors[0]!.errors[0]!.message);
    const [invite] = await insertTeamInvites(tx, ctx, reserveMail, userId, a.team, ok, input.expiresInDays, false);
    return invite!;
  }));
}

/**
 * POST /team/invite/bulk — a JSON list or CSV text. Every row is validated first; if any row is invalid
 * the answer is 400 with the per-row errors and nothing is created or sent. Otherwise all invites are
 * created in one transaction (≤ 100 per call; a CSV may have up to 1000 rows, so its errors can all be
 * reported at once) — or none, with 429, when they would pass the invite-mail cap.
 */
export async function createTeamInvitesBulk(ctx: ServiceContext, target: TeamTarget, input: BulkInput & { expiresInDays: number }): Promise<InviteView[]> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  return withInviteMailCap(ctx, (reserveMail) => ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, target, 'team:members:invite', { lock: true });
    const entries = 'csv' in input ? parseInviteCsv(input.csv) : input.invites;
    const { ok, errors } = await prepareTeamInvites(tx, a.team, a.permissions, entries);
    if (errors.length) {
      throw new AppError('VALIDATION_ERROR', `${errors.length} of ${entries.length} rows are invalid; nothing was sent`, { details: { rows: errors } });
    }
    if (ok.length > MAX_INVITES_PER_CALL) {
      throw new AppError('VALIDATION_ERROR', `At most ${MAX_INVITES_PER_CALL} invitations per call (got ${ok.length}); nothing was sent`, {
        details: { issues: [{ path: 'invites', message: `at most ${MAX_INVITES_PER_CALL}` }] },
      });
    }
    return insertTeamInvites(tx, ctx, reserveMail, userId, a.team, ok, input.expiresInDays, true);
  }));
}

export interface BulkInviteCheck {
  /** wouldCreate: the same request without dryRun would create every invitation (no invalid row, ≤ 100). */
  summary: { total: number; valid: number; invalid: number; wouldCreate: boolean };
  /** One entry per row, in order: the invitation it would create, or why it would be refused. */
  rows: { row: number; email: string | null; role: { id: string; name: string } | null; valid: boolean; errors: RowError['errors'] }[];
}

/**
 * POST /team/invite/bulk?dryRun=true — the same parsing, permission and per-row checks as
 * createTeamInvitesBulk, answered row by row. A read-only transaction: nothing is stored, audited or sent.
 */
export async function checkTeamInvitesBulk(ctx: ServiceContext, target: TeamTarget, input: BulkInput): Promise<BulkInviteCheck> {
  const userId = await limitedCaller(ctx, 'orgRead');
  return ctx.db.write.transaction(
    async (tx) => {
      const a = await authorize(tx, userId, target, 'team:members:invite');
      const entries = 'csv' in input ? parseInviteCsv(input.csv) : input.invites;
      const { ok, errors } = await prepareTeamInvites(tx, a.team, a.permissions, entries);
      const failed = new Map(errors.map((e) => [e.row, e]));
      const valid = ok.values();
      const rows = entries.map((_, i) => {
        const bad = failed.get(i + 1);
        if (bad) return { row: i + 1, email: bad.email, role: null, valid: false, errors: bad.errors };
        const p = valid.next().value!; // ok keeps the order of the valid rows
        return { row: i + 1, email: p.email, role: { id: p.roleId, name: p.roleName }, valid: true, errors: [] };
      });
      const wouldCreate = errors.length === 0 && ok.length <= MAX_INVITES_PER_CALL;
      return { summary: { total: entries.length, valid: ok.length, invalid: errors.length, wouldCreate }, rows };
    },
    { accessMode: 'read only' },
  );
}

/** GET /team/invite/:code — public preview: organization, team, role and expiry only. */
export async function previewTeamInvite(ctx: ServiceContext, code: string) {
  const [row] = await ctx.db.write
    .select({ invite: teamInvites, team: teams, org: organizations, role: teamRoles })
    .from(teamInvites)
    .innerJoin(teams, and(eq(teams.id, teamInvites.teamId), isNull(teams.deletedAt)))
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(teamRoles, eq(teamRoles.id, teamInvites.roleId))
    .where(eq(teamInvites.codeHash, await hashInviteCode(code)))
    .limit(1);
  if (!row) throw new AppError('NOT_FOUND', 'Invitation not found');
  assertUsable(row.invite);
  await assertInviterStillAuthorized(ctx.db.write, { team: row.team.id }, row.invite, row.role.permissions);
  return {
    organization: { name: row.org.name, slug: row.org.slug },
    team: { name: row.team.name, slug: row.team.slug },
    role: { name: row.role.name },
    expiresAt: iso(row.invite.expiresAt),
  };
}

/**
 * The invite behind a code, locked FOR UPDATE after its organization and team FOR SHARE — top-down, the
 * order membership changes lock in — so a concurrent removal or demotion of the inviter (or the invitee's
 * membership) runs wholly before or after.
 */
async function lockTeamInvite(tx: Transaction, code: string) {
  const codeHash = await hashInviteCode(code);
  const [ref] = await tx
    .select({ teamId: teams.id, orgId: teams.orgId })
    .from(teamInvites)
    .innerJoin(teams, eq(teams.id, teamInvites.teamId))
    .where(eq(teamInvites.codeHash, codeHash));
  if (!ref) throw new AppError('NOT_FOUND', 'Invitation not found');
  await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, ref.orgId)).for('share');
  await tx.select({ id: teams.id }).from(teams).where(eq(teams.id, ref.teamId)).for('share');
  const [row] = await tx
    .select({ invite: teamInvites, team: teams, org: organizations, role: teamRoles })
    .from(teamInvites)
    .innerJoin(teams, and(eq(teams.id, teamInvites.teamId), isNull(teams.deletedAt)))
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(teamRoles, eq(teamRoles.id, teamInvites.roleId))
    .where(eq(teamInvites.codeHash, codeHash))
    .for('update', { of: teamInvites });
  if (!row) throw new AppError('NOT_FOUND', 'Invitation not found');
  return row;
}

/**
 * POST /team/accept-invite — the signed-in user whose email the invite was sent to, while its inviter may
 * still send it. One transaction: lock the invite, check it, make the user an org member (Member role) when they are not one yet
 * (team membership requires org membership), add the team membership, mark used, audit.
 */
export async function acceptTeamInvite(ctx: ServiceContext, code: string) {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  const { result, members } = await ctx.db.write.transaction(async (tx) => {
    const row = await lockTeamInvite(tx, code);
    assertUsable(row.invite);
    assertEmailMatches(row.invite.email, await callerEmail(tx, userId));
    await assertInviterStillAuthorized(tx, { team: row.team.id }, row.invite, row.role.permissions);
    const [already] = await tx
      .select({ id: teamMembers.id })
      .from(teamMembers)
      .where(and(eq(teamMembers.teamId, row.team.id), eq(teamMembers.userId, userId)));
    if (already) throw new AppError('CONFLICT', 'You are already a member of this team');
    const joinedOrg = await tx
      .insert(organizationMembers)
      .values({ orgId: row.org.id, userId, roleId: (await resolveOrgRole(tx, row.org.id, ORG_JOIN_ROLE)).id })
      .onConflictDoNothing({ target: [organizationMembers.orgId, organizationMembers.userId] })
      .returning({ id: organizationMembers.id });
    await tx.insert(teamMembers).values({ teamId: row.team.id, userId, roleId: row.role.id });
    await tx.update(teamInvites).set({ usedAt: new Date(), usedBy: userId }).where(eq(teamInvites.id, row.invite.id));
    await audit(tx, 'team', row.team.id, {
      actorId: userId,
      action: 'invite.accept',
      targetType: 'user',
      targetId: userId,
      changes: { inviteId: row.invite.id, after: { role: row.role.name } },
    });
    if (joinedOrg.length) {
      await tx.insert(organizationAuditLogs).values({
        orgId: row.org.id,
        actorId: userId,
        action: 'member.join',
        targetType: 'user',
        targetId: userId,
        changes: { via: { teamId: row.team.id, inviteId: row.invite.id }, after: { role: ORG_JOIN_ROLE } },
      });
    }
    await emit(tx, ctx.events, 'team.member_joined', { teamId: row.team.id, userId });
    return {
      members: joinedOrg.length ? await orgMemberIds(tx, row.org.id) : [],
      result: {
        organization: { id: row.org.id, name: row.org.name, slug: row.org.slug },
        team: { id: row.team.id, name: row.team.name, slug: row.team.slug },
        role: { id: row.role.id, name: row.role.name },
      },
    };
  });
  await invalidateOrgLists(ctx, members);
  return result;
}

/** POST /team/decline-invite — the invitee only; the invite can no longer be used. */
export async function declineTeamInvite(ctx: ServiceContext, code: string): Promise<{ declined: true }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  await ctx.db.write.transaction(async (tx) => {
    const row = await lockTeamInvite(tx, code);
    assertUsable(row.invite);
    assertEmailMatches(row.invite.email, await callerEmail(tx, userId));
    await tx.update(teamInvites).set({ declinedAt: new Date() }).where(eq(teamInvites.id, row.invite.id));
    await audit(tx, 'team', row.team.id, { actorId: userId, action: 'invite.decline', targetType: 'invite', targetId: row.invite.id, changes: { email: row.invite.email } });
  });
  return { declined: true };
}

/** One page of an organization's or team's invites, newest first. The caller has already authorized the read. */
async function invitePage(db: Database, scope: InviteScope, scopeId: string, query: Paging & { status: InviteStatusFilter }): Promise<{ items: InviteView[]; total: number }> {
  const { invites: t, roles, scopeId: scopeColumn, declinedAt } = inviteTablesOf(scope);
  const where = and(eq(scopeColumn, scopeId), statusCondition(scope, query.status));
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
      .limit(query.limit)
      .offset(query.offset),
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

/** Revoke one invite of the scope (whose row the caller has locked); a used, declined or revoked invite → 409. */
async function revokeInviteOf(tx: Transaction, scope: InviteScope, scopeId: string, inviteId: string, actorId: string): Promise<void> {
  const { invites: t, scopeId: scopeColumn, declinedAt } = inviteTablesOf(scope);
  const [invite] = await tx
    .select({ id: t.id, email: t.email, usedAt: t.usedAt, revokedAt: t.revokedAt, declinedAt, expiresAt: t.expiresAt })
    .from(t)
    .where(and(eq(t.id, inviteId), eq(scopeColumn, scopeId)))
    .for('update');
  if (!invite) throw new AppError('NOT_FOUND', 'Invitation not found');
  const status = inviteStatus(invite);
  if (status === 'used' || status === 'declined' || status === 'revoked') {
    throw new AppError('CONFLICT', `This invitation is already ${status}`, { details: { status } });
  }
  await tx.update(t).set({ revokedAt: new Date() }).where(eq(t.id, invite.id));
  await audit(tx, scope, scopeId, { actorId, action: 'invite.revoke', targetType: 'invite', targetId: invite.id, changes: { email: invite.email } });
}

/** GET /organization/:orgId/invites — `org:members:invite` (Owner, Co-Owner, Maintainer). Never the code. */
export async function listOrgInvites(ctx: ServiceContext, orgRef: string, query: Paging & { status: InviteStatusFilter }): Promise<{ items: InviteView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, { org: orgRef }, 'org:members:invite');
  return invitePage(ctx.db.write, 'organization', a.org.id, query);
}

/** DELETE /organization/:orgId/invites/:inviteId — `org:members:invite`; accepting it afterwards → 410. */
export async function revokeOrgInvite(ctx: ServiceContext, orgRef: string, inviteId: string): Promise<{ id: string; status: 'revoked' }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, { org: orgRef }, 'org:members:invite', { lock: true });
    await revokeInviteOf(tx, 'organization', a.org.id, inviteId, userId);
  });
  return { id: inviteId, status: 'revoked' };
}

/** GET /team/:teamId/invites — `team:members:invite` (team Owner/Admin, org Owner/Co-Owner/Maintainer; pending invites name people, so not every member may list them). */
export async function listTeamInvites(ctx: ServiceContext, target: TeamTarget, query: Paging & { status: InviteStatusFilter }): Promise<{ items: InviteView[]; total: number }> {
  const userId = await limitedCaller(ctx, 'orgRead');
  const a = await authorize(ctx.db.write, userId, target, 'team:members:invite');
  return invitePage(ctx.db.write, 'team', a.team.id, query);
}

/** DELETE /team/:teamId/invites/:inviteId — `team:members:invite`; a used or declined invite cannot be revoked. */
export async function revokeTeamInvite(ctx: ServiceContext, target: TeamTarget, inviteId: string): Promise<{ id: string; status: 'revoked' }> {
  const userId = await limitedCaller(ctx, 'orgUpdate');
  await ctx.db.write.transaction(async (tx) => {
    const a = await authorize(tx, userId, target, 'team:members:invite', { lock: true });
    await revokeInviteOf(tx, 'team', a.team.id, inviteId, userId);
  });
  return { id: inviteId, status: 'revoked' };
}

// ───────────────────────────── minting (queue handlers only) ─────────────────────────────

export interface MintedInvite {
  code: string;
  codeHash: string;
  email: string;
  orgName: string;
  teamName: string | null;
  roleName: string;
  inviterName: string | null;
  expiresAt: Date;
}

/** Whether the inviter may still send this invite (false: it is void and is not mailed). */
async function inviterMaySend(tx: Transaction, scope: { org: string } | { team: string }, invite: { createdBy: string; roleId: string }): Promise<boolean> {
  const roles = 'org' in scope ? organizationRoles : teamRoles;
  const [role] = await tx.select({ permissions: roles.permissions }).from(roles).where(eq(roles.id, invite.roleId));
  try {
    await assertInviterStillAuthorized(tx, scope, invite, role?.permissions ?? []);
    return true;
  } catch (err) {
    if (err instanceof AppError && err.code === 'GONE') return false;
    throw err;
  }
}

/**
 * Called by the invite-email handler inside its transaction (see the comment at the top of this file):
 * gives a still-pending invite its real code and returns what the email needs. Null when the invite is
 * no longer pending, its organization/team was deleted or its inviter may no longer send it — nothing to send.
 */
export async function mintInviteCode(tx: Transaction, scope: InviteScope, inviteId: string): Promise<MintedInvite | null> {
  const code = newInviteCode();
  const codeHash = await hashInviteCode(code);
  if (scope === 'organization') {
    const [row] = await tx
      .select({ invite: organizationInvites, orgName: organizations.name, roleName: organizationRoles.name, firstName: users.firstName, lastName: users.lastName, username: users.username })
      .from(organizationInvites)
      .innerJoin(organizations, and(eq(organizations.id, organizationInvites.orgId), isNull(organizations.deletedAt)))
      .innerJoin(organizationRoles, eq(organizationRoles.id, organizationInvites.roleId))
      .leftJoin(users, eq(users.id, organizationInvites.createdBy))
      .where(eq(organizationInvites.id, inviteId))
      .for('update', { of: organizationInvites });
    if (!row || inviteStatus(row.invite) !== 'pending' || !(await inviterMaySend(tx, { org: row.invite.orgId }, row.invite))) return null;
    await tx.update(organizationInvites).set({ codeHash }).where(eq(organizationInvites.id, inviteId));
    return { code, codeHash, email: row.invite.email, orgName: row.orgName, teamName: null, roleName: row.roleName, inviterName: displayName(row), expiresAt: row.invite.expiresAt };
  }
  const [row] = await tx
    .select({
      invite: teamInvites,
      teamName: teams.name,
      orgName: organizations.name,
      roleName: teamRoles.name,
      firstName: users.firstName,
      lastName: users.lastName,
      username: users.username,
    })
    .from(teamInvites)
    .innerJoin(teams, and(eq(teams.id, teamInvites.teamId), isNull(teams.deletedAt)))
    .innerJoin(organizations, and(eq(organizations.id, teams.orgId), isNull(organizations.deletedAt)))
    .innerJoin(teamRoles, eq(teamRoles.id, teamInvites.roleId))
    .leftJoin(users, eq(users.id, teamInvites.createdBy))
    .where(eq(teamInvites.id, inviteId))
    .for('update', { of: teamInvites });
  if (!row || inviteStatus(row.invite) !== 'pending' || !(await inviterMaySend(tx, { team: row.invite.teamId }, row.invite))) return null;
  await tx.update(teamInvites).set({ codeHash }).where(eq(teamInvites.id, inviteId));
  return { code, codeHash, email: row.invite.email, orgName: row.orgName, teamName: row.teamName, roleName: row.roleName, inviterName: displayName(row), expiresAt: row.invite.expiresAt };
}
