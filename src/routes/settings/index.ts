import { createRouter, serviceContext } from '../../router';
import { getSettings, resetSettings, updateSettings } from '../../services/settings';
import { settingsPatchSchema, userSettingsSchema } from '../../services/settings/schema';
import { body, data, errors, guardUnmatched, json, route, sessionUserId } from '../kit';

const Settings = userSettingsSchema.openapi('Settings');
const SettingsPatch = settingsPatchSchema.openapi('SettingsPatch', {
  description: 'Any subset of the settings document; unknown keys are rejected at every level.',
  example: { email: { weeklyFeedback: false } },
});
const ok = (description: string) => json(data(Settings), description);
const unauthorized = errors({ 401: 'No valid session' });
const tags = ['settings'];

export const settingsRoutes = createRouter()
  .openapi(
    route({
      method: 'get',
      path: '/',
      operationId: 'settings.get',
      tags,
      summary: "The caller's settings (defaults merged in)",
      auth: 'session',
      responses: { 200: ok('Full settings'), ...unauthorized },
    }),
    async (c) => {
      const ctx = serviceContext(c);
      return c.json({ data: await getSettings(ctx, sessionUserId(c)) }, 200);
    },
  )
  .openapi(
    route({
      method: 'put',
      path: '/',
      operationId: 'settings.update',
      tags,
      summary: 'Change some settings',
      description: 'Deep-merges the body into the stored settings and returns the full result.',
      auth: 'session',
      request: body(SettingsPatch),
      responses: {
        200: ok('Full settings after the change'),
        ...errors({ 400: 'Unknown key or non-boolean value' }),
        ...unauthorized,
      },
    }),
    async (c) => c.json({ data: await updateSettings(serviceContext(c), c.req.valid('json')) }, 200),
  )
  .openapi(
    route({
      method: 'post',
      path: '/reset',
      operationId: 'settings.reset',
      tags,
      summary: 'Reset every setting to its default',
      auth: 'session',
      responses: { 200: ok('The defaults'), ...unauthorized },
    }),
    async (c) => c.json({ data: await resetSettings(serviceContext(c)) }, 200),
  );

guardUnmatched(settingsRoutes, 'session');
