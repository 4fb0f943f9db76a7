import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { requireUser } from '../../middleware/auth';
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
import { ErrorResponse } from '../schemas';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const security = [{ clerkSession: [] }];
const body = { body: { required: true, content: { 'application/json': { schema: assistantRequestSchema.openapi('AssistantRequest') } } } };
const rateLimitHeaders = {
  'X-RateLimit-Limit': { schema: { type: 'integer' as const }, description: 'Free AI requests per UTC day' },
  'X-RateLimit-Remaining': { schema: { type: 'integer' as const }, description: 'Free AI requests left today' },
  'X-RateLimit-Reset': { schema: { type: 'integer' as const }, description: 'Epoch seconds of the next UTC midnight' },
};
const refusals = {
  400: json(ErrorResponse, 'Invalid body (message 1–4000 chars, sessionId a UUID)'),
  401: json(ErrorResponse, 'No valid session'),
  404: json(ErrorResponse, "The sessionId belongs to another user's conversation"),
  429: { ...json(ErrorResponse, 'Daily free quota used and no paid overflow (switched off, or not enough credits); Retry-After until the next UTC day'), headers: rateLimitHeaders },
  503: json(ErrorResponse, 'Assistant not configured (no GEMINI_API_KEY) or the model failed (a charged credit is refunded)'),
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
  createRoute({
    method: 'post',
    path: `/actions/{actionId}/${verb}`,
    tags: ['ai'],
    summary: verb === 'confirm' ? 'Confirm a change the assistant proposed (applies it)' : 'Cancel a change the assistant proposed (nothing is written)',
    description: CONFIRM_FLOW,
    security,
    request: { params: z.object({ actionId: z.uuid() }) },
    responses: {
      200: json(z.object({ data: ResolvedAction }), verb === 'confirm' ? 'Applied to the profile' : 'Discarded'),
      400: json(ErrorResponse, verb === 'confirm' ? 'actionId is not a UUID, or the change is refused by the profile rules' : 'actionId is not a UUID'),
      401: json(ErrorResponse, 'No valid session'),
      404: json(ErrorResponse, "No such action of the caller's (another user's action looks the same)"),
      409: json(ErrorResponse, 'Already confirmed or cancelled (details.status): an action is used once'),
      410: json(ErrorResponse, 'Expired: more than 10 minutes after it was proposed (code GONE)'),
    },
  });

/**
 * /api/v1/ai. `limits` exists so tests can shorten the heartbeat, the duration cap and the model timeout.
 */
export function createAiRoutes(limits: AiLimits = DEFAULT_AI_LIMITS) {
  const router = createRouter();
  router.use('*', requireUser);
  return router
    .openapi(
      createRoute({
        method: 'post',
        path: '/chat',
        tags: ['ai'],
        summary: 'Ask the assistant; the whole answer at once',
        description: '30 free requests per user per UTC day; beyond that 1 credit each (refunded if the model fails) when paid overflow is on. ' + CONFIRM_FLOW,
        security,
        request: body,
        responses: { 200: { ...json(z.object({ data: ChatAnswer }), 'The answer and the tools it used'), headers: rateLimitHeaders }, ...refusals },
      }),
      async (c) => {
        const { headers, ...data } = await chat(serviceContext(c), { request: c.req.valid('json'), limits });
        return c.json({ data }, 200, headers);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/stream',
        tags: ['ai'],
        summary: 'Ask the assistant; the answer as Server-Sent Events',
        description:
          'Frames `event: <type>` + `data: <json>`: connected {sessionId} → chunk {text} / tool {name, pendingAction?} … → complete {sessionId, toolsUsed}, or error {code, message}. ' +
          'A `: ping` comment every 15 s; the answer is capped at 60 s. Refusals (400/401/404/429/503) come before the stream, as JSON. ' +
          CONFIRM_FLOW,
        security,
        request: body,
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
      createRoute({
        method: 'delete',
        path: '/session/{sessionId}',
        tags: ['ai'],
        summary: 'Delete one of my assistant conversations',
        security,
        request: { params: z.object({ sessionId: z.uuid() }) },
        responses: {
          200: json(z.object({ data: z.object({ deleted: z.literal(true), sessionId: z.uuid() }) }), 'Deleted with its messages'),
          400: json(ErrorResponse, 'sessionId is not a UUID'),
          401: json(ErrorResponse, 'No valid session'),
          404: json(ErrorResponse, "No such session of the caller's (another user's session looks the same)"),
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
}

export const aiRoutes = createAiRoutes();
