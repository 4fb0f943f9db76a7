import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { invitePlatformUser } from '../../services/platform';
import { ErrorResponse } from '../schemas';

const InviteBody = z.object({ email: z.email().max(254) }).strict().openapi('PlatformInvite');

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ErrorResponse, description);

export const platformRoutes = createRouter().openapi(
  createRoute({
    method: 'post',
    path: '/invite',
    tags: ['platform'],
    summary: 'Invite someone to FairArena by email (3 per hour)',
    description:
      'Always 202 with the same body: no email is sent to an address that already has an account or was invited in the last 7 days ' +
      '(so the endpoint does not reveal who has an account). The invitee is not subscribed to anything.',
    security: [{ clerkSession: [] }],
    middleware: [requireUser] as const,
    request: { body: { required: true, content: { 'application/json': { schema: InviteBody } } } },
    responses: {
      202: json(z.object({ data: z.object({ accepted: z.literal(true) }) }), 'Accepted'),
      400: err('Invalid email'),
      401: err('Not signed in'),
      429: err('Too many invites (Retry-After)'),
    },
  }),
  async (c) => c.json({ data: await invitePlatformUser(serviceContext(c), c.req.valid('json')) }, 202),
);
