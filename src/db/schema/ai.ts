import { bigint, index, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { createdAt, updatedAt } from './columns';
import { aiMessageRole } from './enums';
import { users } from './users';

/**
 * An AI assistant conversation. `id` is the client-supplied session UUID; sessions are bound to their
 * owner (always query by id AND user_id — original defect #18).
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

export type AiSession = typeof aiSessions.$inferSelect;
export type AiMessage = typeof aiMessages.$inferSelect;
export type NewAiMessage = typeof aiMessages.$inferInsert;
