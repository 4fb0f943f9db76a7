import { and, desc, eq, type SQL } from 'drizzle-orm';
import { devEmails, type DevEmail } from '../../db/schema';
import type { ServiceContext } from '../context';

/** The development mailbox, newest first: everything, or what went to one address (or phone number). */
export async function listDevEmails(ctx: ServiceContext, input: { to?: string; limit: number }): Promise<DevEmail[]> {
  const where: SQL[] = [];
  if (input.to) where.push(eq(devEmails.to, input.to.toLowerCase()));
  return ctx.db.write.select().from(devEmails).where(and(...where)).orderBy(desc(devEmails.createdAt)).limit(input.limit);
}
