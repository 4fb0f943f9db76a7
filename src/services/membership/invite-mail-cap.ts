import { cacheKeys } from '../../lib/cache-keys';
import { tooMany } from '../../lib/errors';
import { log } from '../../lib/log';
import { requireCaller, type ServiceContext } from '../context';
import { reserveMailQuota } from '../email/mail-cap';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Reserve `emails` invite emails into `orgId` for the caller; throws 429 / 503 and reserves nothing otherwise. */
export type ReserveInviteMail = (orgId: string, emails: number) => Promise<void>;

/**
 * The one cap on invitation mail, for organization and team invites alike (single and bulk): at most
 * INVITE_EMAILS_PER_USER_PER_HOUR per inviting user and INVITE_EMAILS_PER_ORG_PER_DAY per organization,
 * each over a rolling window. Invite mail goes to addresses that never asked for it, so it must not become
 * a relay: a request that would pass either cap is refused whole (429 RATE_LIMITED with Retry-After, nothing
 * created or sent), and when the counters cannot be reached nothing is sent either (503
 * SERVICE_UNAVAILABLE, logged) — a mail we could not count is a mail we do not send.
 *
 * `work` calls `reserve` once it knows how many invites it is about to create (after validation, so a
 * refused request costs nothing); if `work` then fails, the reservation is given back.
 */
export async function withInviteMailCap<T>(ctx: ServiceContext, work: (reserve: ReserveInviteMail) => Promise<T>): Promise<T> {
  const userId = requireCaller(ctx);
  const held: (() => Promise<void>)[] = [];
  const reserve: ReserveInviteMail = async (orgId, emails) => {
    const keys = cacheKeys(ctx.config);
    const perUser = { key: keys.quota('invite-mail:user', userId), limit: ctx.config.INVITE_EMAILS_PER_USER_PER_HOUR, windowMs: HOUR_MS };
    const perOrg = { key: keys.quota('invite-mail:org', orgId), limit: ctx.config.INVITE_EMAILS_PER_ORG_PER_DAY, windowMs: DAY_MS };
    const reservation = await reserveMailQuota(ctx, {
      counters: [perUser, perOrg],
      units: emails,
      event: 'invite_mail_cap.unavailable',
      message: 'Invitations cannot be sent right now: try again in a minute',
    });
    if (!reservation.granted) {
      const byUser = reservation.refusedBy === perUser.key;
      const cap = byUser ? { scope: 'user', limit: perUser.limit, window: '1 hour' } : { scope: 'organization', limit: perOrg.limit, window: '24 hours' };
      log('warn', 'invite_mail_cap.refused', { requestId: ctx.requestId, userId, orgId, emails, cap: cap.scope });
      throw tooMany(
        `At most ${cap.limit} invitation emails per ${byUser ? 'person' : 'organization'} per ${cap.window}: ${emails === 1 ? 'this invitation was' : `these ${emails} invitations were`} not sent`,
        reservation.retryAfterMs,
        { cap },
      );
    }
    held.push(reservation.release);
  };
  try {
    return await work(reserve);
  } catch (err) {
    await Promise.all(held.map((release) => release()));
    throw err;
  }
}
