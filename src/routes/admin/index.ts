import type { Context } from 'hono';
import { type AppEnv, createRouter } from '../../router';
import { listDeadLetters, replayDeadLetter, replayDeadLetters } from '../../services/admin/dead-letters';
import { contextFor, type ServiceContext } from '../../services/context';
import { data, errors, guardUnmatched, json, paged, pageOf, Paging, route, z } from '../kit';

const EventType = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z0-9_.]+$/, 'an event type such as user.created')
  .openapi({ example: 'user.created' });

const DeadLetter = z
  .object({
    id: z.uuid(),
    eventId: z.uuid(),
    eventType: z.string(),
    handler: z.string().nullable().openapi({ description: 'The handler that gave up; null when the event as a whole could not be dispatched' }),
    payload: z.unknown(),
    error: z.string().nullable().openapi({ description: 'Last error of the handler' }),
    attempts: z.number().int().openapi({ description: 'Failed runs of the handler for this event, replays included' }),
    status: z.enum(['open', 'replayed', 'resolved']).openapi({ description: 'resolved: the handler has run since a replay' }),
    replayable: z.boolean().openapi({ description: 'False for events that can never be dispatched (unknown type, invalid payload)' }),
    replayCount: z.number().int(),
    emittedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime().openapi({ description: 'Last time the pair was dead-lettered' }),
    replayedAt: z.iso.datetime().nullable(),
    resolvedAt: z.iso.datetime().nullable(),
  })
  .openapi('DeadLetter');

const ListQuery = z.object({
  status: z.enum(['unresolved', 'resolved', 'all']).default('unresolved'),
  eventType: EventType.optional(),
  ...Paging.shape,
});

const ReplayAllQuery = z.object({ eventType: EventType.optional() });
const ReplayAllBody = z.object({ eventType: EventType.optional() }).strict().openapi('ReplayDeadLetters');

const guarded = errors({ 401: 'Missing or wrong operator token', 404: 'ADMIN_TOKEN is not configured (or no such dead letter)' });
const invalid = errors({ 400: 'Invalid query, path or body' });
const tags = ['admin'];

/** The service context of a caller the operator token vouched for. */
const operatorContext = (c: Context<AppEnv>): ServiceContext => contextFor(c.get('services'), { kind: 'operator' });

/** Operator routes (bearer ADMIN_TOKEN, `auth: 'operator'`): inspect and replay dead letters. */
export const adminRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/dead-letters',
      operationId: 'admin.deadLetter.list',
      tags,
      summary: 'Dead letters, newest first (operator token)',
      auth: 'operator',
      request: { query: ListQuery },
      responses: {
        200: json(pageOf(DeadLetter), 'A page of dead letters; total counts the filtered set'),
        ...invalid,
        ...guarded,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listDeadLetters(operatorContext(c), q);
      return paged(c, page, q);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/dead-letters/replay',
      operationId: 'admin.deadLetter.replayAll',
      tags,
      summary: 'Replay every unresolved dead letter, or those of one event type (operator token)',
      description:
        'Re-enqueues each event for its dead-lettered handler only, oldest first, at most 500 per call (`more` says whether to call again). ' +
        'Repeating a replay is harmless: a handler that has already run does nothing. The event type may be given as `?eventType=` or in the body.',
      auth: 'operator',
      request: {
        query: ReplayAllQuery,
        body: { required: false, content: { 'application/json': { schema: ReplayAllBody, example: { eventType: 'user.created' } } } },
      },
      responses: {
        200: json(data(z.object({ replayed: z.number().int(), notReplayable: z.number().int(), more: z.boolean() })), 'How many dead letters were re-enqueued'),
        ...invalid,
        ...guarded,
        ...errors({ 503: 'The event queue refused the messages (nothing was marked replayed)' }),
      },
    }),
    async (c) => {
      // The body is optional: without one, the validator hands over {}.
      const query = c.req.valid('query');
      const body = c.req.valid('json');
      const data = await replayDeadLetters(operatorContext(c), { eventType: query.eventType ?? body.eventType });
      return c.json({ data }, 200);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/dead-letters/{id}/replay',
      operationId: 'admin.deadLetter.replay',
      tags,
      summary: 'Replay one dead letter (operator token)',
      description: 'Re-enqueues the original event for the dead-lettered handler only. Repeating it is harmless.',
      auth: 'operator',
      request: { params: z.object({ id: z.uuid() }) },
      responses: {
        200: json(data(DeadLetter), 'The dead letter, now replayed'),
        ...invalid,
        ...guarded,
        ...errors({
          409: 'Already resolved, or the event can never be dispatched',
          503: 'The event queue refused the message (nothing was marked replayed)',
        }),
      },
    }),
    async (c) => {
      const data = await replayDeadLetter(operatorContext(c), { id: c.req.valid('param').id });
      return c.json({ data }, 200);
    },
  );

guardUnmatched(adminRoutes, 'operator');
