import { setCookie } from 'hono/cookie';
import { createRouter, serviceContext } from '../../router';
import { listActivity } from '../../services/activity';
import { requestDataExport } from '../../services/export';
import { sendStepUpCode, STEP_UP_COOKIE, STEP_UP_TTL_SECONDS, stepUpStatus, verifyStepUpCode } from '../../services/stepup';
import { clientInfo, presentedStepUpToken } from '../../middleware/step-up';
import { body, data, errors, json, paged, pageOf, Paging, route, z } from '../kit';

const tags = ['account-settings'];

const VerifyRequest = z
  .object({
    otp: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9]{8}$/, '8 letters or digits')
      .openapi({ example: 'K7QM4XPA', description: 'The emailed code, case-insensitive' }),
  })
  .strict()
  .openapi('StepUpVerifyRequest');

const CodeSent = z
  .object({ sent: z.literal(true), expiresIn: z.number().int(), resendAfter: z.number().int(), sendsRemaining: z.number().int() })
  .openapi('StepUpCodeSent');

const StepUpGranted = z
  .object({
    verified: z.literal(true),
    token: z.string().openapi({ description: 'Send as X-Step-Up-Token (API clients); browsers get the fa_stepup cookie' }),
    expiresAt: z.string(),
  })
  .openapi('StepUpGranted');

const StepUpStatus = z.object({ verified: z.boolean(), expiresAt: z.string().nullable() }).openapi('StepUpStatus');

const ActivityRow = z
  .object({
    id: z.uuid(),
    action: z.string().openapi({ example: 'stepup.granted' }),
    level: z.enum(['INFO', 'WARN', 'CRITICAL']),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    createdAt: z.string(),
  })
  .openapi('ActivityLogEntry');

/** /api/v1/account-settings: email step-up verification, the activity log and the data export. */
export const accountSettingsRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/send-otp',
      operationId: 'account.stepUp.sendCode',
      tags,
      summary: 'Email a step-up verification code',
      description: '8 characters, valid 10 minutes. 60 s between sends, 5 sends per 30 minutes. The body is ignored.',
      auth: 'session',
      responses: {
        200: json(data(CodeSent), 'Code sent to the account email', { data: { sent: true, expiresIn: 600, resendAfter: 60, sendsRemaining: 4 } }),
        ...errors({
          401: 'Not signed in',
          409: 'The account has no email address yet',
          429: 'Cooldown, send limit, or verification locked (Retry-After)',
          503: 'Email refused (DELIVERY_FAILED) or not confirmed (DELIVERY_UNCONFIRMED: the code may still arrive and counts, Retry-After), or verification state unavailable',
        }),
      },
    }),
    async (c) => c.json({ data: await sendStepUpCode(serviceContext(c), clientInfo(c)) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/verify-otp',
      operationId: 'account.stepUp.verify',
      tags,
      summary: 'Verify the emailed code and receive a step-up token (10 minutes, bound to this client)',
      description:
        'Case-insensitive. The 5th wrong code within 30 minutes locks verification for 30 minutes. The token is set as the ' +
        '`fa_stepup` cookie (httpOnly, Secure, SameSite=Strict) and returned for API clients (`X-Step-Up-Token`). ' +
        'It is bound to the user, the User-Agent and the client IP.',
      auth: 'session',
      request: body(VerifyRequest, { otp: 'K7QM4XPA' }),
      responses: {
        200: json(data(StepUpGranted), 'Verified'),
        ...errors({
          400: 'Malformed, wrong (details.remainingAttempts) or expired code',
          401: 'Not signed in',
          429: 'Verification locked (Retry-After)',
          503: 'Verification state unavailable',
        }),
      },
    }),
    async (c) => {
      const issued = await verifyStepUpCode(serviceContext(c), { code: c.req.valid('json').otp, ...clientInfo(c) });
      setCookie(c, STEP_UP_COOKIE, issued.token, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/api/v1', maxAge: STEP_UP_TTL_SECONDS });
      c.header('Cache-Control', 'no-store');
      return c.json({ data: { verified: true as const, token: issued.token, expiresAt: new Date(issued.expiresAt).toISOString() } }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/status',
      operationId: 'account.stepUp.status',
      tags,
      summary: 'Whether this client holds a valid step-up token',
      auth: 'session',
      responses: {
        200: json(data(StepUpStatus), 'Step-up state'),
        ...errors({ 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await stepUpStatus(serviceContext(c), { token: presentedStepUpToken(c), ...clientInfo(c) }) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/logs',
      operationId: 'account.activity.list',
      tags,
      summary: 'My activity log, newest first (step-up required)',
      auth: 'stepUp',
      request: { query: Paging },
      responses: {
        200: json(pageOf(ActivityRow), 'One page of the activity log'),
        ...errors({ 400: 'Invalid limit or offset', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listActivity(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return paged(c, page, q);
    },
  )
  .openapi(
    route({
      method: 'post',
      path: '/export-data',
      operationId: 'account.export.request',
      tags,
      summary: 'Email me a JSON export of my data (step-up required, once per 24 h)',
      auth: 'stepUp',
      responses: {
        202: json(data(z.object({ status: z.literal('queued') })), 'Export queued; it arrives by email'),
        ...errors({ 401: 'Not signed in', 429: 'One export per 24 hours (Retry-After)', 503: 'Export state unavailable' }),
      },
    }),
    async (c) => c.json({ data: await requestDataExport(serviceContext(c), { ip: clientInfo(c).ip }) }, 202),
  );
