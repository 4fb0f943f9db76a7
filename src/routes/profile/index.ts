import { createRouter, serviceContext } from '../../router';
import { getOwnProfile, getPublicProfile, listProfileViews, updateOwnProfile } from '../../services/profile';
import { profileUpdateSchema } from '../../services/profile/schema';
import { body, data, errors, json, paged, pageOf, Paging, route, UserId, z } from '../kit';

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
  userId: UserId.openapi({ param: { name: 'userId', in: 'path' }, example: 'user_2abcDEF' }),
});

const tags = ['profile'];

export const profileRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'profile.get',
      tags,
      summary: 'My full profile',
      auth: 'session',
      responses: {
        200: json(data(OwnProfile), 'The caller’s profile, private fields included'),
        ...errors({ 401: 'Not signed in' }),
      },
    }),
    async (c) => c.json({ data: await getOwnProfile(serviceContext(c)) }, 200),
  )
  .openapi(
    route({
      method: 'put',
      path: '/',
      operationId: 'profile.update',
      tags,
      summary: 'Update my profile (partial; null or "" clears a field)',
      auth: 'session',
      request: body(profileUpdateSchema.openapi('ProfileUpdate'), {
        bio: 'Backend engineer; I build judging tools for hackathons.',
        jobTitle: 'Staff Engineer',
        skills: ['TypeScript', 'PostgreSQL'],
        isPublic: true,
      }),
      responses: {
        200: json(data(OwnProfile), 'The updated profile'),
        ...errors({ 400: 'Invalid field, unknown key, or trackViews without requireAuth', 401: 'Not signed in' }),
      },
    }),
    async (c) => c.json({ data: await updateOwnProfile(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    route({
      method: 'get',
      path: '/view/{userId}',
      operationId: 'profile.public.get',
      tags,
      summary: 'A public profile (public fields only; records the view when the owner tracks views)',
      description: 'Public. Private profiles are 404 to everyone but their owner; requireAuth profiles are 401 to anonymous callers.',
      auth: 'optionalSession',
      request: { params: UserIdParam },
      responses: {
        200: json(data(PublicProfile), 'The public profile'),
        ...errors({ 400: 'Malformed user id', 401: 'The profile requires a signed-in viewer', 404: 'No such (visible) profile' }),
      },
    }),
    async (c) => {
      c.header('Cache-Control', 'private, no-store');
      return c.json({ data: await getPublicProfile(serviceContext(c), c.req.valid('param').userId) }, 200);
    },
  )
  .openapi(
    route({
      method: 'get',
      path: '/views',
      operationId: 'profile.view.list',
      tags,
      summary: 'Who viewed my profile, newest first',
      auth: 'session',
      request: { query: Paging },
      responses: {
        200: json(pageOf(ProfileViewer), 'One page of viewers'),
        ...errors({ 400: 'Invalid pagination', 401: 'Not signed in' }),
      },
    }),
    async (c) => {
      const page = c.req.valid('query');
      return paged(c, await listProfileViews(serviceContext(c), page), page);
    },
  );
