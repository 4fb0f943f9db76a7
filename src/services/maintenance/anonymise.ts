import { and, inArray, isNull, lt, sql } from 'drizzle-orm';
import { activityLogs, aiSessions, feedback, notifications, payments, profiles, supportTickets, users } from '../../db/schema';
import { withTransaction, type ServiceContext } from '../context';

const ANONYMISE_BATCH = 500;

/**
 * Anonymise accounts soft-deleted before `deletedBefore` (no longer recoverable), stamped `now`. Personal
 * data of the account is replaced: email → `deleted+<sha256(id) prefix>@anonymized.invalid`
 * (a placeholder the email module never sends to), names, username, image and phone → null, the
 * profile cleared and made private, AI conversations, notifications and the activity log (IPs, user
 * agents) deleted, the IP and user agent of payments nulled, support tickets' subject and message
 * replaced by '[deleted]' (and any address nulled), the text of general feedback nulled. The row and
 * everything that references it (ledger, payments, audit logs, memberships' history) stay, so the
 * books still balance. All of it in one transaction per batch.
 */
export async function anonymiseDeletedUsers(ctx: ServiceContext, input: { deletedBefore: Date; now: Date }): Promise<number> {
  const { deletedBefore: cutoff, now } = input;
  let total = 0;
  for (;;) {
    const done = await withTransaction(ctx, async (tx) => {
      const batch = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(lt(users.deletedAt, cutoff), isNull(users.anonymizedAt)))
        .orderBy(users.deletedAt)
        .limit(ANONYMISE_BATCH)
        .for('update', { skipLocked: true });
      if (batch.length === 0) return 0;
      const ids = batch.map((u) => u.id);
      await tx
        .update(users)
        .set({
          email: sql`'deleted+' || left(encode(sha256(convert_to(${users.id}, 'UTF8')), 'hex'), 16) || '@anonymized.invalid'`,
          firstName: null,
          lastName: null,
          username: null,
          imageUrl: null,
          phoneNumber: null,
          phoneVerifiedAt: null,
          anonymizedAt: now,
        })
        .where(inArray(users.id, ids));
      await tx
        .update(profiles)
        .set({
          bio: '',
          company: null,
          dateOfBirth: null,
          gender: null,
          jobTitle: null,
          location: null,
          yearsOfExperience: null,
          githubUsername: null,
          linkedinProfile: null,
          twitterHandle: null,
          portfolioUrl: null,
          resumeUrl: null,
          education: [],
          skills: [],
          languages: [],
          interests: [],
          certifications: [],
          awards: [],
          experiences: [],
          isPublic: false,
          requireAuth: false,
          trackViews: false,
        })
        .where(inArray(profiles.userId, ids));
      await tx.delete(aiSessions).where(inArray(aiSessions.userId, ids));
      await tx.delete(notifications).where(inArray(notifications.userId, ids));
      await tx.delete(activityLogs).where(inArray(activityLogs.userId, ids));
      await tx.update(payments).set({ ipAddress: null, userAgent: null }).where(inArray(payments.userId, ids));
      await tx.update(supportTickets).set({ subject: '[deleted]', message: '[deleted]', email: null }).where(inArray(supportTickets.userId, ids));
      await tx.update(feedback).set({ message: null }).where(inArray(feedback.userId, ids));
      return batch.length;
    });
    total += done;
    if (done < ANONYMISE_BATCH) return total;
  }
}
