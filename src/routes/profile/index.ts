import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { getOwnProfile, getPublicProfile, listProfileViews, updateOwnProfile } from '../../services/profiles';
import { profileUpdateSchema } from '../../services/profiles/schema';
import { ErrorResponse } from '../schemas';

const nullableText = z.string().nullable();

const ProfileContent = {
  bio: z.string(),
  company: nullableText,
  jobTitle: nullableText,
  location: nullableText,
  yearsOfExperience: z.number().int().nullable(),
  githubUsername: nullableText,
  linkedinProfile: nullableText,
  twitterHandle: nullableText,
  portfolioUrl: nullableText,
  resumeUrl: nullableText,
  education: z.array(z.string()),
  skills: z.array(z.string()),
  languages: z.array(z.string()),
  interests: z.array(z.string()),
  certifications: z.array(z.string()),
  awards: z.array(z.string()),
  experiences: z.array(z.string()),
};

const Identity = {
  id: z.uuid().openapi({ description: 'Profile id (what /stars takes)' }),
  userId: z.string().openapi({ example: 'user_2abcDEF' }),
  firstName: nullableText,
  lastName: nullableText,
  username: nullableText,
  avatarUrl: nullableText,
};

const Visibility = {
  isPublic: z.boolean(),
  requireAuth: z.boolean().openapi({ description: 'Viewers must be signed in' }),
  trackViews: z.boolean().openapi({ description: 'Signed-in viewers are recorded (only with requireAuth)' }),
};

const OwnProfile = z
  .object({
    ...Identity,
    email: z.string(),
    phoneNumber: nullableText,
    phoneVerified: z.boolean(),
    dateOfBirth: nullableText.openapi({ example: '1995-04-23' }),
    gender: z.enum(['MALE', 'FEMALE', 'OTHER', 'PREFER_NOT_TO_SAY']).nullable(),
    ...ProfileContent,
    ...Visibility,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('OwnProfile');

const PublicProfile = z
  .object({
    ...Identity,
    ...ProfileContent,
    ...Visibility,
    createdAt: z.string(),
    starCount: z.number().int(),
    hasStarred: z.boolean().openapi({ description: 'The caller starred this profile (false when anonymous)' }),
    isOwner: z.boolean(),
  })
  .openapi('PublicProfile');

const ProfileViewer = z
  .object({ viewerId: z.string(), name: nullableText, avatarUrl: nullableText, viewedAt: z.string() })
  .openapi('ProfileViewer');

const UserIdParam = z.object({
  userId: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9_-]+$/, 'a Clerk user id')
    .openapi({ param: { name: 'userId', in: 'path' }, example: 'user_2abcDEF' }),
});

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

const security = [{ clerkSession: [] }];
/** Public route that also reads an optional session (OpenAPI: no auth, or the Clerk session). */
const optionalSession: { clerkSession?: string[] }[] = [{}, { clerkSession: [] }];
const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(ErrorResponse) });

export const profileRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['profile'],
      summary: 'My full profile',
      security,
      middleware: [requireUser] as const,
      responses: {
        200: { description: 'The caller’s profile, private fields included', content: json(z.object({ data: OwnProfile })) },
        401: err('Not signed in'),
      },
    }),
    async (c) => c.json({ data: await getOwnProfile(serviceContext(c)) }, 200),
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/',
      tags: ['profile'],
      summary: 'Update my profile (partial; null or "" clears a field)',
      security,
      middleware: [requireUser] as const,
      request: { body: { required: true, content: json(profileUpdateSchema.openapi('ProfileUpdate')) } },
      responses: {
        200: { description: 'The updated profile', content: json(z.object({ data: OwnProfile })) },
        400: err('Invalid field, unknown key, or trackViews without requireAuth'),
        401: err('Not signed in'),
      },
    }),
    async (c) => c.json({ data: await updateOwnProfile(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/view/{userId}',
      tags: ['profile'],
      summary: 'A public profile (public fields only; records the view when the owner tracks views)',
      description: 'Public. Private profiles are 404 to everyone but their owner; requireAuth profiles are 401 to anonymous callers.',
      security: optionalSession,
      request: { params: UserIdParam },
      responses: {
        200: { description: 'The public profile', content: json(z.object({ data: PublicProfile })) },
        400: err('Malformed user id'),
        401: err('The profile requires a signed-in viewer'),
        404: err('No such (visible) profile'),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await getPublicProfile(serviceContext(c), c.req.valid('param').userId) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/views',
      tags: ['profile'],
      summary: 'Who viewed my profile, newest first',
      security,
      middleware: [requireUser] as const,
      request: { query: Page },
      responses: {
        200: {
          description: 'One page of viewers',
          content: json(z.object({ data: z.array(ProfileViewer), meta: z.object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int() }) })),
        },
        400: err('Invalid pagination'),
        401: err('Not signed in'),
      },
    }),
    async (c) => {
      const page = c.req.valid('query');
      const { items, total } = await listProfileViews(serviceContext(c), page);
      return c.json({ data: items, meta: { total, limit: page.limit, offset: page.offset } }, 200);
    },
  );
