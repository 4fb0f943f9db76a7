import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../middleware/auth';
import { createRouter, serviceContext } from '../../router';
import { getSettings, resetSettings, updateSettings } from '../../services/settings';
import { settingsPatchSchema, userSettingsSchema } from '../../services/settings/schema';
import { ErrorResponse } from '../schemas';

const Settings = userSettingsSchema.openapi('Settings');
const SettingsPatch = settingsPatchSchema.openapi('SettingsPatch', {
  description: 'Any subset of the settings document; unknown keys are rejected at every level.',
  example: { email: { weeklyFeedback: false } },
});
const SettingsResponse = z.object({ data: Settings });

const security = [{ clerkSession: [] }];
const errors = {
  401: { description: 'No valid session', content: { 'application/json': { schema: ErrorResponse } } },
};
const ok = (description: string) => ({ description, content: { 'application/json': { schema: SettingsResponse } } });

const router = createRouter();
router.use('*', requireUser);

export const settingsRoutes = router
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['settings'],
      summary: "The caller's settings (defaults merged in)",
      security,
      responses: { 200: ok('Full settings'), ...errors },
    }),
    async (c) => {
      const ctx = serviceContext(c);
      return c.json({ data: await getSettings(ctx, c.get('userId')!) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/',
      tags: ['settings'],
      summary: 'Change some settings',
      description: 'Deep-merges the body into the stored settings and returns the full result.',
      security,
      request: { body: { required: true, content: { 'application/json': { schema: SettingsPatch } } } },
      responses: {
        200: ok('Full settings after the change'),
        400: { description: 'Unknown key or non-boolean value', content: { 'application/json': { schema: ErrorResponse } } },
        ...errors,
      },
    }),
    async (c) => c.json({ data: await updateSettings(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/reset',
      tags: ['settings'],
      summary: 'Reset every setting to its default',
      security,
      responses: { 200: ok('The defaults'), ...errors },
    }),
    async (c) => c.json({ data: await resetSettings(serviceContext(c)) }, 200),
  );
