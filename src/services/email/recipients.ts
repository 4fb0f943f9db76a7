import { eq } from 'drizzle-orm';
import { users } from '../../db/schema';
import type { ServiceContext } from '../context';
import { isPlaceholderEmail } from './send';

export interface Recipient {
  email: string;
  firstName: string | null;
}

/**
 * Who a mail about `userId` goes to: an active user with a real address, or null (deleted, anonymised, or
 * the address is not known yet). Read at send time, so a queued mail follows the account's current state.
 */
export async function activeRecipient(ctx: ServiceContext, userId: string): Promise<Recipient | null> {
  const [user] = await ctx.db.write
    .select({ email: users.email, firstName: users.firstName, deletedAt: users.deletedAt, anonymizedAt: users.anonymizedAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!user || user.deletedAt || user.anonymizedAt || isPlaceholderEmail(user.email)) return null;
  return { email: user.email, firstName: user.firstName };
}


/**
 * The account `userId` as a mail about it needs it (address, name, phone), or null once it is deleted. An
 * address that is not known yet is returned as is: `sendEmail` refuses it and the queue retries later.
 */
export async function liveAccount(ctx: ServiceContext, userId: string) {
  const [user] = await ctx.db.write
    .select({ email: users.email, firstName: users.firstName, phoneNumber: users.phoneNumber, phoneVerifiedAt: users.phoneVerifiedAt, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, userId));
  return user && !user.deletedAt ? user : null;
}
