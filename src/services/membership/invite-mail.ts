import type { ServiceContext } from '../context';
import { sendEmail } from '../email/send';
import { templates } from '../email/templates';
import { mintInviteCode, storeInviteCode } from './invite-mint';
import type { InviteScope } from './scopes';
import { FRONTEND_PAGES, frontendUrl } from '../../lib/frontend-pages';

/**
 * The invite email of `organization.invited` / `team.invited`. The code is minted here, in the handler's
 * transaction, sent, and only then stored (see the comment at the top of invite-codes.ts): it never travels
 * in an event payload. Storing takes the invite's row lock until the transaction commits, and a revoke waits
 * for it while holding its scope's lock (the organization's or the team's), on which every membership change there queues: so nothing is
 * locked while the provider answers. The idempotency key includes the new code's hash, so a retry after an
 * uncommitted send mails the code that is actually stored.
 */
export async function mailInvite(ctx: ServiceContext, input: { scope: InviteScope; inviteId: string; idempotencyKey: string }): Promise<void> {
  const { scope, inviteId } = input;
  const minted = await mintInviteCode(ctx, { scope, inviteId });
  if (!minted) return; // revoked, used, expired or deleted before we got here: nothing to send
  const url = frontendUrl(ctx, FRONTEND_PAGES.invite(scope, minted.code));
  const email =
    scope === 'organization'
      ? templates.organizationInvite({ inviterName: minted.inviterName, orgName: minted.orgName, roleName: minted.roleName, url, expiresAt: minted.expiresAt })
      : templates.teamInvite({ inviterName: minted.inviterName, orgName: minted.orgName, teamName: minted.teamName ?? '', roleName: minted.roleName, url, expiresAt: minted.expiresAt });
  await sendEmail(ctx, { to: minted.email, email, idempotencyKey: `${input.idempotencyKey}:${minted.codeHash.slice(0, 16)}` });
  await storeInviteCode(ctx, { scope, inviteId, codeHash: minted.codeHash });
}
