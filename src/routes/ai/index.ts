import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { requireUser } from '../../middleware/auth';
import { createRouter } from '../../router';
import { assistantRequestSchema, beginTurn, chat, DEFAULT_AI_LIMITS, deleteSession, streamTurn, type AiLimits } from '../../services/ai';
import { serviceContext } from '../../services/context';
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

const ChatAnswer = z
  .object({ sessionId: z.uuid(), response: z.string(), toolsUsed: z.array(z.string()) })
  .openapi('AssistantAnswer');

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
        description: '30 free requests per user per UTC day; beyond that 1 credit each (refunded if the model fails) when paid overflow is on.',
        security,
        request: body,
        responses: { 200: { ...json(z.object({ data: ChatAnswer }), 'The answer and the tools it used'), headers: rateLimitHeaders }, ...refusals },
      }),
      async (c) => {
        const { headers, ...data } = await chat(serviceContext(c), c.req.valid('json'), limits);
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
          'Frames `event: <type>` + `data: <json>`: connected {sessionId} → chunk {text} / tool {name} … → complete {sessionId, toolsUsed}, or error {code, message}. ' +
          'A `: ping` comment every 15 s; the answer is capped at 60 s. Refusals (400/401/404/429/503) come before the stream, as JSON.',
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
          streamTurn(
            ctx,
            turn,
            {
              frame: (frame) => stream.writeSSE({ event: frame.type, data: JSON.stringify(frame) }),
              comment: (text) => stream.write(`: ${text}\n\n`).then(() => undefined),
              onAbort: (listener) => stream.onAbort(listener),
            },
            limits,
          ),
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
    );
}

export const aiRoutes = createAiRoutes();
