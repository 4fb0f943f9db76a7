import { and, gt, isNotNull, isNull, lte, sql, type SQL } from 'drizzle-orm';
import { AppError } from '../../lib/errors';
import { inviteScope, type InviteScope } from './scopes';

/** The life of an invite, derived from its timestamps (no I/O). */
export type InviteStatus = 'pending' | 'used' | 'expired' | 'declined' | 'revoked';
export type InviteStatusFilter = InviteStatus | 'all';

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
export function assertUsable(i: InviteRowLike): void {
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

/** 403 unless the signed-in user's email is the one the invite was sent to. */
export function assertEmailMatches(inviteEmail: string, mine: string): void {
  if (inviteEmail.toLowerCase() !== mine.toLowerCase()) {
    throw new AppError('FORBIDDEN', 'This invitation was sent to a different email address');
  }
}

/** The same status rule as `inviteStatus`, as a condition on the scope's invite table. */
export function statusCondition(scope: InviteScope, status: InviteStatusFilter): SQL | undefined {
  const { invites: t, declinedAt } = inviteScope(scope);
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
