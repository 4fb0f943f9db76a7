import { pgEnum } from 'drizzle-orm/pg-core';

/** Lifecycle of a Razorpay payment row. PROCESSING is kept for parity with the original; nothing requires it. */
export const paymentStatus = pgEnum('payment_status', [
  'PENDING',
  'PROCESSING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'REFUNDED',
  'PARTIALLY_REFUNDED',
]);

/** Kind of a credits-ledger row. The sign of `amount` per type is a CHECK on credit_transactions. */
export const creditTransactionType = pgEnum('credit_transaction_type', [
  'PURCHASE',
  'REFUND',
  'BONUS',
  'DEDUCTION',
  'ADJUSTMENT',
  'INITIAL_ALLOCATION',
  'EXPIRY',
  'TRANSFER_IN',
  'TRANSFER_OUT',
]);

export const reportSeverity = pgEnum('report_severity', ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);

export const reportType = pgEnum('report_type', ['BUG', 'FEATURE_REQUEST', 'QUERY', 'SUGGESTION', 'OTHER']);

/** Workflow state shared by support tickets and abuse reports. */
export const reportState = pgEnum('report_state', ['QUEUED', 'IN_REVIEW', 'RESOLVED', 'DISMISSED', 'ESCALATED']);

/** What an abuse report points at. */
export const reportEntityType = pgEnum('report_entity_type', ['profile', 'organization', 'team', 'project']);

export const visibility = pgEnum('visibility', ['PUBLIC', 'PRIVATE', 'INTERNAL']);

export const gender = pgEnum('gender', ['MALE', 'FEMALE', 'OTHER', 'PREFER_NOT_TO_SAY']);

/** Severity of activity-log and audit-log rows. */
export const logLevel = pgEnum('log_level', ['INFO', 'WARN', 'CRITICAL']);

export const notificationType = pgEnum('notification_type', [
  'SYSTEM',
  'MENTION',
  'INVITATION',
  'ACHIEVEMENT',
  'UPDATE',
  'REMINDER',
  'ALERT',
  'MESSAGE',
  'FOLLOW',
  'STAR',
  'COMMENT',
  'ANNOUNCEMENT',
]);

/** 'general' = feedback posted by a signed-in user; 'weekly' = an anonymous slot created by the weekly mail. */
export const feedbackKind = pgEnum('feedback_kind', ['general', 'weekly']);

export const newsletterStatus = pgEnum('newsletter_status', ['pending', 'subscribed', 'unsubscribed']);

/** Author of an AI chat message, in Gemini's vocabulary. */
export const aiMessageRole = pgEnum('ai_message_role', ['user', 'model', 'tool']);

export const jobRunStatus = pgEnum('job_run_status', ['running', 'succeeded', 'failed']);
