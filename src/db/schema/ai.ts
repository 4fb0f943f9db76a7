import { sql } from 'drizzle-orm';
import { bigint, check, index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, timestamptz, updatedAt } from './columns';
import { aiMessageRole } from './enums';
import { users } from './users';

/**
 * An AI assistant conversation. `id` is the client-supplied session UUID; sessions are bound to their
 * owner (always query by id AND user_id: the id comes from the client).
 */
export const aiSessions = pgTable(
  'ai_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    title: text('title'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('ai_sessions_user_updated_idx').on(t.userId, t.updatedAt)],
);

/** Messages of a session in Gemini `Content` shape (`content` holds the parts). Ordered by `seq`. */
export const aiMessages = pgTable(
  'ai_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => aiSessions.id, { onDelete: 'cascade' }),
    role: aiMessageRole('role').notNull(),
    content: jsonb('content').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('ai_messages_session_seq_idx').on(t.sessionId, t.seq)],
);

/**
 * A change the assistant proposed and the user has not confirmed yet. The write tools never write:
 * they store the validated change here, and only POST /ai/actions/:id/confirm by the same user, before
 * `expires_at` (10 minutes), applies it — once. Always query by id AND user_id.
 */
export const aiPendingActions = pgTable(
  'ai_pending_actions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade', onUpdate: 'cascade' }),
    sessionId: uuid('session_id').references(() => aiSessions.id, { onDelete: 'set null' }),
    /** The tool that proposed it (update_user_profile). */
    tool: text('tool').notNull(),
    /** The proposed change, already validated by the schema of the service that will apply it. */
    changes: jsonb('changes').$type<Record<string, unknown>>().notNull(),
    /** pending → confirmed | cancelled. */
    status: text('status').notNull().default('pending'),
    expiresAt: timestamptz('expires_at').notNull(),
    createdAt: createdAt(),
    resolvedAt: timestamptz('resolved_at'),
  },
  (t) => [
    index('ai_pending_actions_user_created_idx').on(t.userId, t.createdAt),
    index('ai_pending_actions_expires_idx').on(t.expiresAt),
    check('ai_pending_actions_status_chk', sql`${t.status} in ('pending', 'confirmed', 'cancelled')`),
  ],
);

export type AiSession = typeof aiSessions.$inferSelect;
export type AiPendingAction = typeof aiPendingActions.$inferSelect;
export type AiMessage = typeof aiMessages.$inferSelect;
export type NewAiMessage = typeof aiMessages.$inferInsert;
