import { createRouter, serviceContext } from '../../router';
import { invitePlatformUser } from '../../services/platform';
import { body, data, errors, json, route, z } from '../kit';

const InviteBody = z.object({ email: z.email().max(254) }).strict().openapi('PlatformInvite');

export const platformRoutes = createRouter().openapi(
  route({
    method: 'post',
    path: '/invite',
    operationId: 'platform.invite.create',
    tags: ['platform'],
    summary: 'Invite someone to FairArena by email (3 per hour)',
    description:
      'Always 202 with the same body: no email is sent to an address that already has an account or was invited in the last 7 days ' +
      '(so the endpoint does not reveal who has an account). The invitee is not subscribed to anything.',
    auth: 'session',
    request: body(InviteBody, { email: 'grace@example.com' }),
    responses: {
      202: json(data(z.object({ accepted: z.literal(true) })), 'Accepted'),
      ...errors({ 400: 'Invalid email', 401: 'Not signed in', 429: 'Too many invites (Retry-After)', 503: 'The invite cap cannot be counted right now (Retry-After): nothing sent' }),
    },
  }),
  async (c) => c.json({ data: await invitePlatformUser(serviceContext(c), c.req.valid('json')) }, 202),
);
