import { createRouter, serviceContext } from '../../router';
import { getFeedbackSlot, submitGeneralFeedback, submitWeeklyFeedback } from '../../services/feedback';
import { body, data, errors, json, route, text, z } from '../kit';

const FeedbackBody = z
  .object({
    rating: z.number().int().min(1).max(5),
    message: text().trim().max(1000).optional(),
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

const feedbackBody = body(FeedbackBody, { rating: 4, message: 'Judging was smooth; the schedule page could load faster.' });
const tags = ['feedback'];

export const feedbackRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/',
      operationId: 'feedback.create',
      tags,
      summary: 'Send general feedback (signed in; 5 per hour)',
      description: 'Stored for the team; never shown or sent to other users.',
      auth: 'session',
      request: feedbackBody,
      responses: {
        201: json(data(GeneralFeedback), 'Stored'),
        ...errors({ 400: 'Invalid body', 401: 'Not signed in', 429: 'Too many submissions (Retry-After)' }),
      },
    }),
    async (c) => c.json({ data: await submitGeneralFeedback(serviceContext(c), c.req.valid('json')) }, 201),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{code}',
      operationId: 'feedback.weekly.get',
      auth: 'public',
      tags,
      summary: 'Check a weekly feedback link (public)',
      request: { params: CodeParam },
      responses: {
        200: json(data(FeedbackSlot), 'The slot and whether it was already used'),
        ...errors({ 404: 'Unknown code' }),
      },
    }),
    async (c) => c.json({ data: await getFeedbackSlot(serviceContext(c), c.req.valid('param').code) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/{code}',
      operationId: 'feedback.weekly.submit',
      auth: 'public',
      tags,
      summary: 'Answer a weekly feedback link (public, single use)',
      description: 'One attempt per code per 60 s (429); a used code answers 409.',
      request: { params: CodeParam, ...feedbackBody },
      responses: {
        200: json(data(FeedbackSlot), 'Stored; the code is now used'),
        ...errors({ 400: 'Invalid body', 404: 'Unknown code', 409: 'Already used', 429: 'Cooldown of this code (Retry-After)' }),
      },
    }),
    async (c) => c.json({ data: await submitWeeklyFeedback(serviceContext(c), { code: c.req.valid('param').code, ...c.req.valid('json') }) }, 200),
  );
