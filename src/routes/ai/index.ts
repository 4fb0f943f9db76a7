import { streamSSE } from 'hono/streaming';
import { createRouter, serviceContext } from '../../router';
import {
  assistantRequestSchema,
  beginTurn,
  cancelAction,
  chat,
  confirmAction,
  DEFAULT_AI_LIMITS,
  deleteSession,
  streamTurn,
  type AiLimits,
} from '../../services/ai';
import { body, data, errors, guardUnmatched, json, route, z } from '../kit';

const assistantRequest = body(assistantRequestSchema.openapi('AssistantRequest'), {
  message: 'Set my job title to Staff Engineer',
  sessionId: '3b0e8f4c-2a1d-4c6e-9f7b-5d8a1e2c4b6f',
});
const rateLimitHeaders = {
  'X-RateLimit-Limit': { schema: { type: 'integer' as const }, description: 'Free AI requests per UTC day' },
  'X-RateLimit-Remaining': { schema: { type: 'integer' as const }, description: 'Free AI requests left today' },
  'X-RateLimit-Reset': { schema: { type: 'integer' as const }, description: 'Epoch seconds of the next UTC midnight' },
};
const quota = errors({ 429: 'Daily free quota used and no paid overflow (switched off, or not enough credits); Retry-After until the next UTC day' });
const refusals = {
  ...errors({
    400: 'Invalid body (message 1–4000 chars, sessionId a UUID)',
    401: 'No valid session',
    404: "The sessionId belongs to another user's conversation",
    503: 'Assistant not configured (no GEMINI_API_KEY), the model failed, or the database is unavailable (a charged credit is refunded)',
  }),
  429: { ...quota[429], headers: rateLimitHeaders },
};

const PendingAction = z
  .object({
    actionId: z.uuid().openapi({ description: 'Confirm with POST /api/v1/ai/actions/{actionId}/confirm, discard with …/cancel' }),
    tool: z.literal('update_user_profile'),
    changes: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'The proposed change: profile fields and their new values (the fields of PUT /api/v1/profile)', example: { jobTitle: 'Staff Engineer' } }),
    expiresAt: z.iso.datetime().openapi({ description: 'Confirmation is refused (410) from this instant: 10 minutes after the proposal' }),
  })
  .openapi('AssistantPendingAction');

const ChatAnswer = z
  .object({
    sessionId: z.uuid(),
    response: z.string(),
    toolsUsed: z.array(z.string()),
    pendingAction: PendingAction.nullable().openapi({ description: 'A change the assistant proposed in this answer; nothing is written until the user confirms it' }),
  })
  .openapi('AssistantAnswer');

const ResolvedAction = z
  .object({
    actionId: z.uuid(),
    tool: z.literal('update_user_profile'),
    status: z.enum(['confirmed', 'cancelled']),
    changes: z.record(z.string(), z.unknown()).openapi({ description: 'confirmed: the values now stored; cancelled: what had been proposed' }),
  })
  .openapi('AssistantResolvedAction');

const CONFIRM_FLOW =
  'The assistant never writes on its own: its write tool (update_user_profile) only proposes a change. The /chat answer carries it as ' +
  '`pendingAction` {actionId, tool, changes, expiresAt} (and the /stream `tool` frame of that tool carries the same object). Nothing changes ' +
  'until the same user calls POST /api/v1/ai/actions/{actionId}/confirm within 10 minutes, which applies it exactly like PUT /api/v1/profile; ' +
  'POST …/cancel discards it. Each action can be confirmed or cancelled once.';

const actionRoute = (verb: 'confirm' | 'cancel') =>
  route({
    method: 'post',
    path: `/actions/{actionId}/${verb}`,
    operationId: verb === 'confirm' ? 'ai.action.confirm' : 'ai.action.cancel',
    auth: 'session',
    tags: ['ai'],
    summary: verb === 'confirm' ? 'Confirm a change the assistant proposed (applies it)' : 'Cancel a change the assistant proposed (nothing is written)',
    description: CONFIRM_FLOW,
    request: { params: z.object({ actionId: z.uuid() }) },
    responses: {
      200: json(data(ResolvedAction), verb === 'confirm' ? 'Applied to the profile' : 'Discarded'),
      ...errors({
        400: verb === 'confirm' ? 'actionId is not a UUID, or the change is refused by the profile rules' : 'actionId is not a UUID',
        401: 'No valid session',
        404: "No such action of the caller's (another user's action looks the same)",
        409: 'Already confirmed or cancelled (details.status): an action is used once',
        410: 'Expired: more than 10 minutes after it was proposed (code GONE)',
      }),
    },
  });

/**
 * /api/v1/ai. `limits` exists so tests can shorten the heartbeat, the duration cap and the model timeout.
 */
export function createAiRoutes(limits: AiLimits = DEFAULT_AI_LIMITS) {
  const router = createRouter()
    .openapi(
      route({
        method: 'post',
        path: '/chat',
        operationId: 'ai.chat',
        tags: ['ai'],
        summary: 'Ask the assistant; the whole answer at once',
        description: '30 free requests per user per UTC day; beyond that 1 credit each (refunded if the model fails) when paid overflow is on. ' + CONFIRM_FLOW,
        auth: 'session',
        request: assistantRequest,
        responses: { 200: { ...json(data(ChatAnswer), 'The answer and the tools it used'), headers: rateLimitHeaders }, ...refusals },
      }),
      async (c) => {
        const { headers, ...data } = await chat(serviceContext(c), { request: c.req.valid('json'), limits });
        return c.json({ data }, 200, headers);
      },
    )
    .openapi(
      route({
        method: 'post',
        path: '/stream',
        operationId: 'ai.stream',
        tags: ['ai'],
        summary: 'Ask the assistant; the answer as Server-Sent Events',
        description:
          'Frames `event: <type>` + `data: <json>`: connected {sessionId} → chunk {text} / tool {name, pendingAction?} … → complete {sessionId, toolsUsed}, or error {code, message}. ' +
          'A `: ping` comment every 15 s; the answer is capped at 60 s. Refusals (400/401/404/429/503) come before the stream, as JSON. ' +
          CONFIRM_FLOW,
        auth: 'session',
        request: assistantRequest,
        responses: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } }, headers: rateLimitHeaders },
          ...refusals,
        },
      }),
      async (c) => {
        const ctx = serviceContext(c);
        const turn = await beginTurn(ctx, c.req.valid('json'));
        for (const [name, value] of Object.entries(turn.headers)) c.header(name, value);
        c.header('X-Accel-Buffering', 'no');
        return streamSSE(c, (stream) =>
          streamTurn(ctx, {
            turn,
            writer: {
              frame: (frame) => stream.writeSSE({ event: frame.type, data: JSON.stringify(frame) }),
              comment: (text) => stream.write(`: ${text}\n\n`).then(() => undefined),
              onAbort: (listener) => stream.onAbort(listener),
            },
            limits,
          }),
        );
      },
    )
    .openapi(
      route({
        method: 'delete',
        path: '/session/{sessionId}',
        operationId: 'ai.session.delete',
        tags: ['ai'],
        summary: 'Delete one of my assistant conversations',
        auth: 'session',
        request: { params: z.object({ sessionId: z.uuid() }) },
        responses: {
          200: json(data(z.object({ deleted: z.literal(true), sessionId: z.uuid() })), 'Deleted with its messages'),
          ...errors({
            400: 'sessionId is not a UUID',
            401: 'No valid session',
            404: "No such session of the caller's (another user's session looks the same)",
          }),
        },
      }),
      async (c) => {
        const { sessionId } = c.req.valid('param');
        await deleteSession(serviceContext(c), sessionId);
        return c.json({ data: { deleted: true as const, sessionId } }, 200);
      },
    )
    .openapi(actionRoute('confirm'), async (c) => c.json({ data: await confirmAction(serviceContext(c), c.req.valid('param').actionId) }, 200))
    .openapi(actionRoute('cancel'), async (c) => c.json({ data: await cancelAction(serviceContext(c), c.req.valid('param').actionId) }, 200));
  guardUnmatched(router, 'session');
  return router;
}

export const aiRoutes = createAiRoutes();
