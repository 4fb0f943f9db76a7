import { AppError, type ErrorCode } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { openServiceContext, type ServiceContext } from '../context';
import type { PendingAction } from './actions';
import { CLIENT_GONE, DEFAULT_AI_LIMITS, runTurn, TOO_LONG, turnError, type AiLimits, type Turn } from './chat';

/**
 * POST /ai/stream after the turn was admitted: SSE frames
 *   connected → (chunk | tool)* → complete   or   … → error
 * A `tool` frame of a write tool carries `pendingAction` (see ./actions.ts): nothing was written.
 * with a `: ping` comment every heartbeatMs and a hard cap of maxDurationMs on the whole answer.
 *
 * The stream outlives the request handler (the response is returned as soon as the stream opens, and
 * the request's database handle is closed after it), so the answer runs on its own service context, finished
 * (events relayed, database closed) when the stream ends.
 */

export type AiFrame =
  | { type: 'connected'; sessionId: string }
  | { type: 'chunk'; text: string }
  | { type: 'tool'; name: string; pendingAction?: PendingAction }
  | { type: 'complete'; sessionId: string; toolsUsed: string[] }
  | { type: 'error'; code: ErrorCode; message: string };

/** What the door hands over: its SSE stream, reduced to what we use. */
export interface FrameWriter {
  frame(frame: AiFrame): Promise<void>;
  comment(text: string): Promise<void>;
  onAbort(listener: () => void): void;
}

export async function streamTurn(ctx: ServiceContext, input: { turn: Turn; writer: FrameWriter; limits?: AiLimits }): Promise<void> {
  const { turn, writer, limits = DEFAULT_AI_LIMITS } = input;
  const { ctx: streamCtx, finish } = openServiceContext(ctx.env, { actor: ctx.actor, requestId: ctx.requestId, config: ctx.config });
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(TOO_LONG), limits.maxDurationMs);
  const heartbeat = setInterval(() => void writer.comment('ping').catch(() => {}), limits.heartbeatMs);
  writer.onAbort(() => controller.abort(CLIENT_GONE));
  try {
    await writer.frame({ type: 'connected', sessionId: turn.sessionId });
    const result = await runTurn(streamCtx, {
      turn,
      stream: true,
      signal: controller.signal,
      limits,
      sink: {
        text: (text) => writer.frame({ type: 'chunk', text }),
        tool: (name, pendingAction) => writer.frame({ type: 'tool', name, ...(pendingAction ? { pendingAction } : {}) }),
      },
    });
    await writer.frame({ type: 'complete', sessionId: result.sessionId, toolsUsed: result.toolsUsed });
  } catch (err) {
    if (!(controller.signal.aborted && controller.signal.reason === CLIENT_GONE)) {
      const error = turnError(err, controller.signal, turn.headers);
      if (!(err instanceof AppError)) log('error', 'ai.stream_failed', { requestId: ctx.requestId, error: describeError(err) });
      await writer.frame({ type: 'error', code: error.code, message: error.message }).catch(() => {});
    }
  } finally {
    clearTimeout(deadline);
    clearInterval(heartbeat);
    await finish();
  }
}
