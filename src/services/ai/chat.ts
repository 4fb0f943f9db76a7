import { createGeminiModel, GeminiError, geminiConfigured, type Content, type Part } from '../../integrations/gemini';
import { databaseUnavailable, isDatabaseUnavailable } from '../../db/errors';
import { AppError } from '../../lib/errors';
import { describeError, log } from '../../lib/log';
import { requireCaller, type ServiceContext } from '../context';
import { buildSystemInstruction, oneLine } from './prompt';
import { refundRequest, reserveRequest, type Reservation } from './quota';
import type { AssistantRequest } from './schema';
import { appendTurn, loadHistory } from './sessions';
import type { PendingAction } from './actions';
import { executeTool, GEMINI_TOOLS, isToolName, type ToolTurn } from './tools';

/**
 * One assistant turn: history → model → (tool calls → model)* → answer, then the turn is stored.
 * `beginTurn` does everything that can refuse the request (configuration, session ownership, quota,
 * credit) before any answer starts; `runTurn` talks to the model and never leaves a charge behind on
 * failure.
 */

export interface AiLimits {
  /** Rounds of tool execution before the model must answer without tools. */
  maxToolRounds: number;
  /** One model call (RequestOptions.timeout). */
  modelTimeoutMs: number;
  /** Whole answer: /stream duration cap, also applied to /chat. */
  maxDurationMs: number;
  /** SSE heartbeat comment interval. */
  heartbeatMs: number;
}

export const DEFAULT_AI_LIMITS: AiLimits = Object.freeze({
  maxToolRounds: 5,
  modelTimeoutMs: 30_000,
  maxDurationMs: 60_000,
  heartbeatMs: 15_000,
});

/** Abort reasons we set ourselves. */
export const CLIENT_GONE = 'client-gone';
export const TOO_LONG = 'duration-cap';

export interface Turn {
  userId: string;
  sessionId: string;
  request: AssistantRequest;
  reservation: Reservation;
  /** X-RateLimit-* headers for every answer of this request. */
  headers: Record<string, string>;
}

export interface TurnSink {
  text?(delta: string): Promise<void> | void;
  /** A tool ran; a write tool also hands over the change now waiting for the user's confirmation. */
  tool?(name: string, pendingAction?: PendingAction): Promise<void> | void;
}

export interface TurnResult {
  sessionId: string;
  response: string;
  toolsUsed: string[];
  /** The change the assistant proposed in this turn, applied only once the user confirms it; else null. */
  pendingAction: PendingAction | null;
}

const NOT_CONFIGURED = 'The AI assistant is not available: it has not been configured on this server (GEMINI_API_KEY is missing).';
const BLOCKED_ANSWER = "I'm sorry, I can't help with that request.";
const EMPTY_ANSWER = "I'm sorry, I couldn't come up with an answer. Please try rephrasing your question.";

/** 503 without a key; then session ownership (404) and quota/credit (429), all before any model call. */
export async function beginTurn(ctx: ServiceContext, request: AssistantRequest): Promise<Turn> {
  const userId = requireCaller(ctx);
  if (!geminiConfigured(ctx.config)) throw new AppError('SERVICE_UNAVAILABLE', NOT_CONFIGURED);
  const reservation = await reserveRequest(ctx, { userId, sessionId: request.sessionId, title: oneLine(request.message, 80) });
  return { userId, sessionId: request.sessionId, request, reservation, headers: reservation.headers };
}

export interface RunOptions {
  stream: boolean;
  sink?: TurnSink;
  /** Aborted with CLIENT_GONE or TOO_LONG as the reason. */
  signal?: AbortSignal;
  limits?: AiLimits;
}

/**
 * Run the model/tool loop for a begun turn. On failure the charge (if any) is refunded — unless the client
 * went away, which is not a failure of ours — and an AppError carrying the rate-limit headers is thrown.
 */
export async function runTurn(ctx: ServiceContext, input: RunOptions & { turn: Turn }): Promise<TurnResult> {
  const { turn, ...options } = input;
  const limits = options.limits ?? DEFAULT_AI_LIMITS;
  const { signal, sink } = options;
  try {
    const history = await loadHistory(ctx, { userId: turn.userId, sessionId: turn.sessionId });
    const model = createGeminiModel(ctx.config, {
      systemInstruction: buildSystemInstruction({ pageLabel: turn.request.metadata?.context }),
      tools: GEMINI_TOOLS,
      timeoutMs: limits.modelTimeoutMs,
    });
    const fresh: Content[] = [{ role: 'user', parts: [{ text: turn.request.message }] }];
    const toolsUsed: string[] = [];
    const toolTurn: ToolTurn = { userId: turn.userId, sessionId: turn.sessionId, metadata: turn.request.metadata, action: null };
    let answer = '';
    let finalParts: Part[] = [];

    for (let round = 0; ; round++) {
      if (signal?.aborted) throw new GeminiError('cancelled', 'aborted');
      const allowTools = round < limits.maxToolRounds;
      const out = await model.generate([...history, ...fresh], {
        stream: options.stream,
        allowTools,
        signal,
        onText: async (delta) => {
          answer += delta;
          await sink?.text?.(delta);
        },
      });
      const calls = out.parts.filter((p) => p.functionCall);
      const text = out.parts.filter((p) => typeof p.text === 'string' && p.text);
      if (out.blocked) {
        if (!answer.trim()) {
          answer = BLOCKED_ANSWER;
          await sink?.text?.(BLOCKED_ANSWER);
        }
        finalParts = [{ text: answer }];
        break;
      }
      if (!calls.length || !allowTools) {
        // No (more) tools: this is the answer. A call the model makes despite mode NONE is ignored.
        finalParts = text;
        break;
      }
      fresh.push({ role: 'model', parts: out.parts });
      const responses: Part[] = [];
      for (const part of calls) {
        const call = part.functionCall!;
        const outcome = await executeTool(ctx, { turn: toolTurn, call });
        // Only real tools are announced (once they ran, so a write tool's frame carries its pending action);
        // a made-up name just gets an error result back.
        if (isToolName(call.name)) {
          await sink?.tool?.(call.name, outcome.pendingAction);
          if (!toolsUsed.includes(call.name)) toolsUsed.push(call.name);
        }
        responses.push({ functionResponse: { name: call.name, response: outcome.response } });
      }
      fresh.push({ role: 'function', parts: responses });
    }

    if (!answer.trim()) {
      answer = EMPTY_ANSWER;
      await sink?.text?.(EMPTY_ANSWER);
      finalParts = [];
    }
    fresh.push({ role: 'model', parts: finalParts.length ? finalParts : [{ text: answer }] });
    try {
      await appendTurn(ctx, { userId: turn.userId, sessionId: turn.sessionId, turn: fresh });
    } catch (err) {
      // The user has the answer (and was charged for it); only the continuity of the session suffers.
      log('error', 'ai.history_not_saved', { requestId: ctx.requestId, sessionId: turn.sessionId, error: describeError(err) });
    }
    return { sessionId: turn.sessionId, response: answer, toolsUsed, pendingAction: toolTurn.action };
  } catch (err) {
    const clientGone = signal?.aborted && signal.reason === CLIENT_GONE;
    const error = turnError(err, signal, turn.headers);
    if (!clientGone) await refundRequest(ctx, { reservation: turn.reservation, reason: error.message });
    if (error.status >= 500) {
      log('warn', 'ai.turn_failed', { requestId: ctx.requestId, sessionId: turn.sessionId, code: error.code, error: describeError(err) });
    }
    throw error;
  }
}

/**
 * What a failed turn answers: the model's failures and our own database being unavailable are 503 (try
 * again), anything else a 500. Shared by /chat and the /stream error frame.
 */
export function turnError(err: unknown, signal: AbortSignal | undefined, headers: Record<string, string>): AppError {
  if (err instanceof AppError) return new AppError(err.code, err.message, { ...err.options, headers: { ...headers, ...err.options.headers } });
  if (err instanceof GeminiError) {
    if (err.kind === 'aborted' && signal?.reason === TOO_LONG) {
      return new AppError('SERVICE_UNAVAILABLE', 'The answer took too long and was stopped. Please try again.', { headers });
    }
    if (err.kind === 'timeout') return new AppError('SERVICE_UNAVAILABLE', 'The AI model did not answer in time. Please try again.', { headers });
    if (err.kind === 'aborted') return new AppError('SERVICE_UNAVAILABLE', 'The answer was cancelled.', { headers });
    return new AppError('SERVICE_UNAVAILABLE', 'The AI model is unavailable right now. Please try again shortly.', { headers });
  }
  if (isDatabaseUnavailable(err)) return databaseUnavailable(headers);
  return new AppError('INTERNAL_ERROR', 'Something went wrong while answering.', { headers });
}

/** POST /ai/chat: the whole answer at once (same loop, non-streaming model calls, same duration cap). */
export async function chat(ctx: ServiceContext, input: { request: AssistantRequest; limits?: AiLimits }): Promise<TurnResult & { headers: Record<string, string> }> {
  const { request, limits = DEFAULT_AI_LIMITS } = input;
  const turn = await beginTurn(ctx, request);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(TOO_LONG), limits.maxDurationMs);
  try {
    const result = await runTurn(ctx, { turn, stream: false, signal: controller.signal, limits });
    return { ...result, headers: turn.headers };
  } finally {
    clearTimeout(timer);
  }
}
