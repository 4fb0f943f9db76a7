import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { listStars, starProfile, unstarProfile } from '../../services/stars';
import { ErrorResponse } from '../schemas';

const ProfileIdParam = z.object({
  profileId: z.uuid().openapi({ param: { name: 'profileId', in: 'path' }, description: 'Profile id (profiles.id), not the user id' }),
});

const StarState = z
  .object({ starred: z.boolean(), count: z.number().int().openapi({ description: 'Stars of the profile after the action' }) })
  .openapi('StarState');

const Stargazer = z
  .object({ userId: z.string(), name: z.string().nullable(), avatarUrl: z.string().nullable(), starredAt: z.string() })
  .openapi('Stargazer');

const StarsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional().openapi({ description: 'meta.nextCursor of the previous page' }),
});

const security = [{ clerkSession: [] }];
/** Public route that also reads an optional session (OpenAPI: no auth, or the Clerk session). */
const optionalSession: { clerkSession?: string[] }[] = [{}, { clerkSession: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ErrorResponse) });

const actionResponses = {
  200: { description: 'Idempotent: the resulting state', content: json(z.object({ data: StarState })) },
  400: err('Malformed profile id'),
  401: err('Not signed in'),
  404: err('No such (visible) profile'),
  429: err('More than 10 star/unstar actions per minute (Retry-After)'),
};

export const starRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/{profileId}',
      tags: ['stars'],
      summary: 'Star a profile (idempotent; notifies the owner once)',
      security,
      middleware: [requireUser] as const,
      request: { params: ProfileIdParam },
      responses: { ...actionResponses, 403: err('Your own profile') },
    }),
    async (c) => c.json({ data: await starProfile(serviceContext(c), c.req.valid('param').profileId) }, 200),
  )
  .openapi(
    createRoute({
      method: 'delete',
      path: '/{profileId}',
      tags: ['stars'],
      summary: 'Remove my star (idempotent)',
      security,
      middleware: [requireUser] as const,
      request: { params: ProfileIdParam },
      responses: actionResponses,
    }),
    async (c) => c.json({ data: await unstarProfile(serviceContext(c), c.req.valid('param').profileId) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{profileId}',
      tags: ['stars'],
      summary: 'Star count and stargazers of a profile (public; newest first)',
      security: optionalSession,
      request: { params: ProfileIdParam, query: StarsQuery },
      responses: {
        200: {
          description: 'Count, hasStarred (false when anonymous) and one page of stargazers',
          content: json(
            z.object({
              data: z.object({ count: z.number().int(), hasStarred: z.boolean(), stargazers: z.array(Stargazer) }),
              meta: z.object({ nextCursor: z.string().nullable() }),
            }),
          ),
        },
        400: err('Malformed profile id, limit or cursor'),
        401: err('The profile requires a signed-in viewer'),
        404: err('No such (visible) profile'),
      },
    }),
    async (c) => {
      const { profileId } = c.req.valid('param');
      const { limit, cursor } = c.req.valid('query');
      const { nextCursor, ...data } = await listStars(serviceContext(c), { profileId, limit, cursor });
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data, meta: { nextCursor } }, 200);
    },
  );
