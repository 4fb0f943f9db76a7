import { createRouter, serviceContext } from '../../router';
import { listStars, starProfile, unstarProfile } from '../../services/stars';
import { data, errors, json, route, z } from '../kit';

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

const starState = json(data(StarState), 'Idempotent: the resulting state');
const actionErrors = errors({
  400: 'Malformed profile id',
  401: 'Not signed in',
  404: 'No such (visible) profile',
  429: 'More than 10 star/unstar actions per minute (Retry-After)',
});
const ownProfile = errors({ 403: 'Your own profile' });
const tags = ['stars'];

export const starRoutes = createRouter()
  .openapi(
    route({
      method: 'post',
      path: '/{profileId}',
      operationId: 'star.create',
      tags,
      summary: 'Star a profile (idempotent; notifies the owner once)',
      auth: 'session',
      request: { params: ProfileIdParam },
      responses: { 200: starState, ...actionErrors, ...ownProfile },
    }),
    async (c) => c.json({ data: await starProfile(serviceContext(c), c.req.valid('param').profileId) }, 200),
  )
  .openapi(
    route({
      method: 'delete',
      path: '/{profileId}',
      operationId: 'star.delete',
      tags,
      summary: 'Remove my star (idempotent)',
      auth: 'session',
      request: { params: ProfileIdParam },
      responses: { 200: starState, ...actionErrors },
    }),
    async (c) => c.json({ data: await unstarProfile(serviceContext(c), c.req.valid('param').profileId) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/{profileId}',
      operationId: 'star.list',
      tags,
      summary: 'Star count and stargazers of a profile (public; newest first)',
      auth: 'optionalSession',
      request: { params: ProfileIdParam, query: StarsQuery },
      responses: {
        200: json(
          z.object({
            data: z.object({ count: z.number().int(), hasStarred: z.boolean(), stargazers: z.array(Stargazer) }),
            meta: z.object({ nextCursor: z.string().nullable() }),
          }),
          'Count, hasStarred (false when anonymous) and one page of stargazers',
        ),
        ...errors({
          400: 'Malformed profile id, limit or cursor',
          401: 'The profile requires a signed-in viewer',
          404: 'No such (visible) profile',
        }),
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
