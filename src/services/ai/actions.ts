import { and, eq, sql } from 'drizzle-orm';
import { aiPendingActions, type AiPendingAction } from '../../db/schema';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { requireCaller, type ServiceContext, withTransaction } from '../context';
import { updateOwnProfile } from '../profile';
import { profileUpdateSchema, type ProfileUpdate } from '../profile/schema';

/**
 * Confirm-before-write for the assistant. A write tool never writes on the model's say-so: it stores
 * the proposed, already validated change as a pending action of the caller (ai_pending_actions) and the
 * answer carries it to the client. Nothing changes until the same user confirms it —
 * POST /ai/actions/:actionId/confirm — within PENDING_ACTION_TTL_MS; cancel discards it. Each action
 * is used once. Another user's action id is answered exactly like a missing one (404).
 */

export const PENDING_ACTION_TTL_MS = 10 * 60_000;

/** The tools that propose instead of writing, and what applies their change once confirmed. */
export type ActionTool = 'update_user_profile';

/** What the /chat answer and the /stream `tool` frame carry. */
export interface PendingAction {
  actionId: string;
  tool: ActionTool;
  /** The proposed change: profile fields and their new values. */
  changes: Record<string, unknown>;
  expiresAt: string;
}

export interface ResolvedAction {
  actionId: string;
  tool: ActionTool;
  status: 'confirmed' | 'cancelled';
  /** confirmed: the values as stored after the change; cancelled: what had been proposed. */
  changes: Record<string, unknown>;
}

const view = (row: AiPendingAction): PendingAction => ({
  actionId: row.id,
  tool: row.tool as ActionTool,
  changes: row.changes,
  expiresAt: row.expiresAt.toISOString(),
});

/**
 * Inside one assistant turn: record a proposed profile change. An action never changes once recorded: a stream
 * may already have shown it, and a confirm applies exactly what was shown. A later proposal in the same turn is a
 * new action holding the turn's changes so far (the later value of a field winning), so the turn's last action,
 * which the answer carries, confirms them all with one id. `turn` carries that action between tool calls.
 */
export async function proposeProfileChange(
  ctx: ServiceContext,
  input: { turn: { userId: string; sessionId: string; action: PendingAction | null }; patch: ProfileUpdate },
): Promise<PendingAction> {
  const { turn, patch } = input;
  const changes = { ...turn.action?.changes, ...patch };
  const expiresAt = new Date(Date.now() + PENDING_ACTION_TTL_MS);
  const [row] = await ctx.db.write
    .insert(aiPendingActions)
    .values({ userId: turn.userId, sessionId: turn.sessionId, tool: 'update_user_profile', changes, expiresAt })
    .returning();
  return (turn.action = view(row!));
}

/**
 * Lock the caller's action and move it from pending to `to`, or refuse: not theirs or unknown → 404;
 * already confirmed or cancelled → 409 (details.status); expired → 410 GONE.
 */
async function resolve(ctx: ServiceContext, userId: string, actionId: string, to: 'confirmed' | 'cancelled'): Promise<AiPendingAction> {
  return withTransaction(ctx, async (tx, ctx) => {
    const [row] = await tx
      .select()
      .from(aiPendingActions)
      .where(and(eq(aiPendingActions.id, actionId), eq(aiPendingActions.userId, userId)))
      .for('update');
    if (!row) throw new AppError('NOT_FOUND', 'Action not found');
    if (row.status !== 'pending') {
      throw new AppError('CONFLICT', `This action was already ${row.status}`, { details: { reason: 'ALREADY_RESOLVED', status: row.status } });
    }
    if (row.expiresAt.getTime() <= Date.now()) {
      throw new AppError('GONE', 'This action has expired: ask the assistant again', { details: { reason: 'EXPIRED', expiredAt: row.expiresAt.toISOString() } });
    }
    await tx.update(aiPendingActions).set({ status: to, resolvedAt: sql`now()` }).where(eq(aiPendingActions.id, row.id));
    return row;
  });
}

/**
 * POST /ai/actions/:actionId/confirm — apply the proposed change through the profile service (the same
 * validation, activity row and cache invalidation as PUT /profile). The action is marked confirmed
 * first (so a concurrent second confirm gets 409); should the update then fail, it goes back to
 * pending and the error is answered, so the user can retry until it expires.
 */
export async function confirmAction(ctx: ServiceContext, actionId: string): Promise<ResolvedAction> {
  const userId = requireCaller(ctx);
  const row = await resolve(ctx, userId, actionId, 'confirmed');
  try {
    // Re-validated: the stored change is applied only if PUT /profile would accept it today.
    const patch = profileUpdateSchema.safeParse(row.changes);
    if (!patch.success) throw new AppError('CONFLICT', 'The proposed change is no longer valid', { details: { reason: 'INVALID_CHANGE' } });
    const profile = (await updateOwnProfile(ctx, patch.data)) as unknown as Record<string, unknown>;
    const changes = Object.fromEntries(Object.keys(patch.data).map((k) => [k, profile[k]]));
    return { actionId: row.id, tool: row.tool as ActionTool, status: 'confirmed', changes };
  } catch (err) {
    await ctx.db.write
      .update(aiPendingActions)
      .set({ status: 'pending', resolvedAt: null })
      .where(and(eq(aiPendingActions.id, row.id), eq(aiPendingActions.status, 'confirmed')))
      .catch((e: unknown) => log('warn', 'ai.action_reopen_failed', { actionId: row.id, error: describeError(e) }));
    throw err;
  }
}

/** POST /ai/actions/:actionId/cancel — discard the proposed change (nothing is written to the profile). */
export async function cancelAction(ctx: ServiceContext, actionId: string): Promise<ResolvedAction> {
  const userId = requireCaller(ctx);
  const row = await resolve(ctx, userId, actionId, 'cancelled');
  return { actionId: row.id, tool: row.tool as ActionTool, status: 'cancelled', changes: row.changes };
}
