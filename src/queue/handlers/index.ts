import type { HandlerTable } from '../types';
import { dataExport, freeCreditsEmail, freeCreditsNotification, phoneVerifiedEmail, phoneVerifiedNotification } from './account';
import {
  disputeLostEmail,
  disputeLostNotification,
  duplicateCaptureRefund,
  duplicateRefundEmail,
  paymentFailedEmail,
  paymentFailedNotification,
  paymentReceiptLink,
  paymentRefundedEmail,
  paymentRefundedNotification,
  paymentSuccessEmail,
  paymentSuccessNotification,
  refundFailedEmail,
  refundFailedNotification,
  schedulePaymentExpiry,
} from './payments';
import { organizationInviteEmail, teamInviteEmail, teamMemberJoinedNotification } from './orgs';
import {
  githubActivityNotification,
  newsletterConfirmationEmail,
  platformInviteEmail,
  reportReceivedEmail,
  supportConfirmationEmail,
  supportNotification,
  weeklyFeedbackEmail,
} from './engagement';
import { closeStreams, pushUnreadCount, retryPush } from './notifications';
import { starNotification } from './stars';
import {
  accountDeletedEmail,
  accountRecoveredEmail,
  accountRecoveredNotification,
  forgetDeleted,
  pushNamesToClerk,
  welcomeEmail,
  welcomeNotification,
} from './users';

/** Which handlers react to which event. Every event in the catalog is listed (the type enforces it). */
export const HANDLERS: HandlerTable = {
  'user.created': [welcomeEmail, welcomeNotification],
  'user.deleted': [accountDeletedEmail, forgetDeleted, closeStreams],
  'user.recovered': [accountRecoveredEmail, accountRecoveredNotification],
  'user.name_changed': [pushNamesToClerk],
  'notification.unread_changed': [pushUnreadCount],
  'notification.push_failed': [retryPush],
  'profile.starred': [starNotification],
  'organization.invited': [organizationInviteEmail],
  'team.invited': [teamInviteEmail],
  'team.member_joined': [teamMemberJoinedNotification],
  'payment.order_created': [schedulePaymentExpiry],
  // The receipt link is stored first so the success email (and payment history) can show it.
  'payment.completed': [paymentReceiptLink, paymentSuccessEmail, paymentSuccessNotification],
  'payment.failed': [paymentFailedEmail, paymentFailedNotification],
  'payment.refunded': [paymentRefundedEmail, paymentRefundedNotification],
  'refund.failed': [refundFailedEmail, refundFailedNotification],
  'payment.duplicate_captured': [duplicateCaptureRefund],
  'payment.duplicate_refunded': [duplicateRefundEmail],
  'payment.dispute_lost': [disputeLostNotification, disputeLostEmail],
  'support.ticket_created': [supportConfirmationEmail, supportNotification],
  'report.created': [reportReceivedEmail],
  'newsletter.confirmation_requested': [newsletterConfirmationEmail],
  'platform.invite_requested': [platformInviteEmail],
  'project.github_activity': [githubActivityNotification],
  'feedback.weekly_requested': [weeklyFeedbackEmail],
  'phone.verified': [phoneVerifiedEmail, phoneVerifiedNotification],
  'credits.free_claimed': [freeCreditsEmail, freeCreditsNotification],
  'account.export_requested': [dataExport],
};
