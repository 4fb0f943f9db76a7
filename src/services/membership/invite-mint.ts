import { eq } from 'drizzle-orm';
import { AppError } from '../../lib/errors';
import type { ServiceContext } from '../context';
import { hashInviteCode, newInviteCode } from './invite-codes';
import { assertInviterStillAuthorized, findInvite } from './invite-lookup';
import { inviteStatus } from './invite-status';
import { inviteScope, type InviteScope } from './scopes';

/** What the invite email needs; `code` is the plaintext, which exists only here and in the email. */
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

/**
 * Called by the invite-email handler inside its transaction (see invite-codes.ts): draws a still-pending
 * invite's real code and returns what the email needs. Null when the invite is no longer pending, its
 * organization/team was deleted or its inviter may no longer send it — nothing to send. Locks nothing and
 * stores nothing: the handler sends the email first and then stores the hash (storeInviteCode), so no row
 * lock is held while the mail provider answers.
 */
export async function mintInviteCode(ctx: ServiceContext, input: { scope: InviteScope; inviteId: string }): Promise<MintedInvite | null> {
  const t = inviteScope(input.scope).invites;
  const found = await findInvite(ctx, { scope: input.scope, where: eq(t.id, input.inviteId) });
  if (!found || inviteStatus(found.invite) !== 'pending') return null;
  try {
    await assertInviterStillAuthorized(ctx, { scope: input.scope, found });
  } catch (err) {
    if (err instanceof AppError && err.code === 'GONE') return null; // void: not mailed
    throw err;
  }
  const code = newInviteCode();
  const codeHash = await hashInviteCode(code);
  const { invite, org, team, role, inviterName } = found;
  return { code, codeHash, email: invite.email, orgName: org.name, teamName: team?.name ?? null, roleName: role.name, inviterName, expiresAt: invite.expiresAt };
}

/**
 * Give the invite the code that was just mailed; its link works once the handler's transaction commits.
 * Whatever the invite's status by now: a link mailed while the invite was being revoked then says so (410)
 * rather than naming no invitation at all.
 */
export async function storeInviteCode(ctx: ServiceContext, input: { scope: InviteScope; inviteId: string; codeHash: string }): Promise<void> {
  const t = inviteScope(input.scope).invites;
  await ctx.db.write.update(t).set({ codeHash: input.codeHash }).where(eq(t.id, input.inviteId));
}
