import { and, desc, eq, lt, sql } from 'drizzle-orm';
import { aiMessages, aiSessions } from '../../db/schema';
import type { Content } from '../../integrations/gemini';
import { AppError } from '../../lib/errors';
import { withoutNul } from '../../lib/text';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { alignHistory } from './history';

/**
 * Conversation storage (ai_sessions / ai_messages). A session id is client-chosen, but the session
 * belongs to the user whose request created it: every read and write filters on id AND user_id, and a
 * session of someone else is answered like a missing one (404).
 *
 * Each ai_messages row is one Gemini `Content` ({role, parts}); function responses are stored with the
 * db role 'tool' and the Gemini role 'function'. A session keeps its last HISTORY_LIMIT messages.
 */

export const HISTORY_LIMIT = 20;

type GeminiRole = 'user' | 'model' | 'function';
type DbRole = 'user' | 'model' | 'tool';
const toDbRole = (role: string): DbRole => (role === 'function' ? 'tool' : role === 'model' ? 'model' : 'user');

export interface SessionRef {
  userId: string;
  sessionId: string;
}

/**
 * Inside the caller's transaction: create the session for `userId` if the id is new, then make sure it
 * is theirs. 404 when the id belongs to another user.
 */
export async function claimSession(ctx: ServiceContext, input: SessionRef & { title: string }): Promise<void> {
  const { userId, sessionId, title } = input;
  const tx = ctx.db.write;
  await tx.insert(aiSessions).values({ id: sessionId, userId, title }).onConflictDoNothing({ target: aiSessions.id });
  const [row] = await tx.select({ userId: aiSessions.userId }).from(aiSessions).where(eq(aiSessions.id, sessionId));
  if (!row || row.userId !== userId) throw new AppError('NOT_FOUND', 'Session not found');
}


/** The session's history to send with the next message (primary: it must include the previous turn). */
export async function loadHistory(ctx: ServiceContext, input: SessionRef): Promise<Content[]> {
  const { userId, sessionId } = input;
  const rows = await ctx.db.write
    .select({ content: aiMessages.content })
    .from(aiMessages)
    .innerJoin(aiSessions, and(eq(aiSessions.id, aiMessages.sessionId), eq(aiSessions.userId, userId)))
    .where(eq(aiMessages.sessionId, sessionId))
    .orderBy(desc(aiMessages.seq))
    .limit(HISTORY_LIMIT);
  const contents = rows.reverse().map((r) => r.content as Content).filter(isContent);
  return alignHistory(contents);
}

function isContent(c: unknown): c is Content {
  if (!c || typeof c !== 'object') return false;
  const { role, parts } = c as { role?: unknown; parts?: unknown };
  return (role === 'user' || role === 'model' || role === 'function') && Array.isArray(parts) && parts.length > 0;
}

/**
 * Append one finished turn (user message, model calls, function responses, final answer) and drop what
 * falls out of the window, in one transaction. The session row is locked so two turns of one session
 * never interleave. A session deleted meanwhile is left deleted (the turn is not stored).
 */
export async function appendTurn(ctx: ServiceContext, input: SessionRef & { turn: Content[] }): Promise<void> {
  const { userId, sessionId, turn } = input;
  if (!turn.length) return;
  await withTransaction(ctx, async (tx) => {
    const [session] = await tx
      .select({ id: aiSessions.id })
      .from(aiSessions)
      .where(and(eq(aiSessions.id, sessionId), eq(aiSessions.userId, userId)))
      .for('update');
    if (!session) return;
    // Model output and tool results are not ours to refuse, but jsonb cannot hold U+0000.
    await tx.insert(aiMessages).values(turn.map((c) => ({ sessionId, role: toDbRole(c.role as GeminiRole), content: withoutNul(c) })));
    const keep = tx
      .select({ seq: aiMessages.seq })
      .from(aiMessages)
      .where(eq(aiMessages.sessionId, sessionId))
      .orderBy(desc(aiMessages.seq))
      .limit(HISTORY_LIMIT);
    const [oldest] = await tx.select({ seq: sql<number>`min(k.seq)` }).from(keep.as('k'));
    if (oldest?.seq !== undefined && oldest.seq !== null) {
      await tx.delete(aiMessages).where(and(eq(aiMessages.sessionId, sessionId), lt(aiMessages.seq, Number(oldest.seq))));
    }
    await tx.update(aiSessions).set({ updatedAt: new Date() }).where(eq(aiSessions.id, sessionId));
  });
}

/** DELETE /ai/session/:sessionId — the caller's session and its messages; 404 for anyone else's. */
export async function deleteSession(ctx: ServiceContext, sessionId: string): Promise<void> {
  const userId = requireCaller(ctx);
  const deleted = await ctx.db.write
    .delete(aiSessions)
    .where(and(eq(aiSessions.id, sessionId), eq(aiSessions.userId, userId)))
    .returning({ id: aiSessions.id });
  if (!deleted.length) throw new AppError('NOT_FOUND', 'Session not found');
}
