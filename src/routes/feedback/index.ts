import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { getFeedbackSlot, submitGeneralFeedback, submitWeeklyFeedback } from '../../services/feedback';
import { ErrorResponse } from '../schemas';

const FeedbackBody = z
  .object({
    rating: z.number().int().min(1).max(5),
    message: z.string().trim().max(1000).optional(),
  })
  .strict()
  .openapi('FeedbackSubmission');

const GeneralFeedback = z
  .object({ id: z.uuid(), rating: z.number().int(), message: z.string().nullable(), createdAt: z.iso.datetime() })
  .openapi('GeneralFeedback');

const FeedbackSlot = z
  .object({ code: z.string(), used: z.boolean(), createdAt: z.iso.datetime(), usedAt: z.iso.datetime().nullable() })
  .openapi('FeedbackSlot');

const CodeParam = z.object({
  code: z.string().min(1).max(128).openapi({ param: { name: 'code', in: 'path' }, description: 'Code from the weekly feedback email' }),
});

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ErrorResponse, description);
const body = { body: { required: true, content: { 'application/json': { schema: FeedbackBody } } } };

export const feedbackRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['feedback'],
      summary: 'Send general feedback (signed in; 5 per hour)',
      description: 'Stored for the team; never shown or sent to other users.',
      security: [{ clerkSession: [] }],
      middleware: [requireUser] as const,
      request: body,
      responses: {
        201: json(z.object({ data: GeneralFeedback }), 'Stored'),
        400: err('Invalid body'),
        401: err('Not signed in'),
        429: err('Too many submissions (Retry-After)'),
      },
    }),
    async (c) => c.json({ data: await submitGeneralFeedback(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{code}',
      tags: ['feedback'],
      summary: 'Check a weekly feedback link (public)',
      request: { params: CodeParam },
      responses: {
        200: json(z.object({ data: FeedbackSlot }), 'The slot and whether it was already used'),
        404: err('Unknown code'),
      },
    }),
    async (c) => c.json({ data: await getFeedbackSlot(serviceContext(c), c.req.valid('param').code) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{code}',
      tags: ['feedback'],
      summary: 'Answer a weekly feedback link (public, single use)',
      description: 'One attempt per code per 60 s (429); a used code answers 409.',
      request: { params: CodeParam, ...body },
      responses: {
        200: json(z.object({ data: FeedbackSlot }), 'Stored; the code is now used'),
        400: err('Invalid body'),
        404: err('Unknown code'),
        409: err('Already used'),
        429: err('Cooldown of this code (Retry-After)'),
      },
    }),
    async (c) => c.json({ data: await submitWeeklyFeedback(serviceContext(c), { code: c.req.valid('param').code, ...c.req.valid('json') }) }, 200),
  );
