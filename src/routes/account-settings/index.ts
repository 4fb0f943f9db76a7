import { createRoute, z } from '@hono/zod-openapi';
import { setCookie } from 'hono/cookie';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { listActivity } from '../../services/activity';
import { requestDataExport } from '../../services/export';
import { sendStepUpCode, STEP_UP_COOKIE, STEP_UP_TTL_SECONDS, stepUpStatus, verifyStepUpCode } from '../../services/stepup';
import { clientInfo, presentedStepUpToken, requireStepUp } from '../../middleware/step-up';
import { ErrorResponse } from '../schemas';

const security = [{ clerkSession: [] }];
const stepUpSecurity = [{ clerkSession: [], stepUpToken: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ErrorResponse) });
const stepUpRefused = err('No valid step-up token for this user and client (details.reason STEP_UP_REQUIRED)');

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

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

/** /api/v1/account-settings: email step-up verification, the activity log and the data export. */
export const accountSettingsRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/send-otp',
      tags: ['account-settings'],
      summary: 'Email a step-up verification code',
      description: '8 characters, valid 10 minutes. 60 s between sends, 5 sends per 30 minutes. The body is ignored.',
      security,
      middleware: [requireUser] as const,
      responses: {
        200: { description: 'Code sent to the account email', content: json(z.object({ data: CodeSent })) },
        401: err('Not signed in'),
        409: err('The account has no email address yet'),
        429: err('Cooldown, send limit, or verification locked (Retry-After)'),
        503: err('Email or verification state unavailable'),
      },
    }),
    async (c) => c.json({ data: await sendStepUpCode(serviceContext(c), clientInfo(c)) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/verify-otp',
      tags: ['account-settings'],
      summary: 'Verify the emailed code and receive a step-up token (10 minutes, bound to this client)',
      description:
        'Case-insensitive. The 5th wrong code within 30 minutes locks verification for 30 minutes. The token is set as the ' +
        '`fa_stepup` cookie (httpOnly, Secure, SameSite=Strict) and returned for API clients (`X-Step-Up-Token`). ' +
        'It is bound to the user, the User-Agent and the client IP.',
      security,
      middleware: [requireUser] as const,
      request: { body: { required: true, content: json(VerifyRequest) } },
      responses: {
        200: { description: 'Verified', content: json(z.object({ data: StepUpGranted })) },
        400: err('Malformed, wrong (details.remainingAttempts) or expired code'),
        401: err('Not signed in'),
        429: err('Verification locked (Retry-After)'),
        503: err('Verification state unavailable'),
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
    createRoute({
      method: 'get',
      path: '/status',
      tags: ['account-settings'],
      summary: 'Whether this client holds a valid step-up token',
      security,
      middleware: [requireUser] as const,
      responses: {
        200: { description: 'Step-up state', content: json(z.object({ data: StepUpStatus })) },
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await stepUpStatus(serviceContext(c), { token: presentedStepUpToken(c), ...clientInfo(c) }) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/logs',
      tags: ['account-settings'],
      summary: 'My activity log, newest first (step-up required)',
      security: stepUpSecurity,
      middleware: [requireUser, requireStepUp] as const,
      request: { query: Page },
      responses: {
        200: {
          description: 'One page of the activity log',
          content: json(z.object({ data: z.array(ActivityRow), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) })),
        },
        400: err('Invalid limit or offset'),
        401: err('Not signed in'),
        403: stepUpRefused,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await listActivity(serviceContext(c), q);
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: page.items, meta: { total: page.total, limit: q.limit, offset: q.offset } }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/export-data',
      tags: ['account-settings'],
      summary: 'Email me a JSON export of my data (step-up required, once per 24 h)',
      security: stepUpSecurity,
      middleware: [requireUser, requireStepUp] as const,
      responses: {
        202: { description: 'Export queued; it arrives by email', content: json(z.object({ data: z.object({ status: z.literal('queued') }) })) },
        401: err('Not signed in'),
        403: stepUpRefused,
        429: err('One export per 24 hours (Retry-After)'),
        503: err('Export state unavailable'),
      },
    }),
    async (c) => c.json({ data: await requestDataExport(serviceContext(c), { ip: clientInfo(c).ip }) }, 202),
  );

accountSettingsRoutes.openAPIRegistry.registerComponent('securitySchemes', 'stepUpToken', {
  type: 'apiKey',
  in: 'header',
  name: 'X-Step-Up-Token',
  description: 'Step-up token from POST /api/v1/account-settings/verify-otp (browsers: the fa_stepup cookie)',
});
