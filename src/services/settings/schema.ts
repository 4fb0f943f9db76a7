import { z } from 'zod';
import type { UserSettings as CachedUserSettings } from '../../lib/cached-views';

/**
 * User settings: one small nested document of booleans. Every key has a default, so the stored
 * document (settings.settings, jsonb) only holds what the user changed; reads merge the defaults in
 * and drop keys this version does not know. Strict at every level: an unknown key is a 400.
 */
const emailSettings = z.strictObject({
  weeklyFeedback: z.boolean().describe('The weekly email asking for feedback on FairArena'),
  productUpdates: z.boolean().describe('Occasional emails about new features'),
});

const notificationSettings = z.strictObject({
  stars: z.boolean().describe('In-app notification when someone stars your profile'),
  teamActivity: z.boolean().describe('In-app notifications about your organizations, teams and projects'),
  feedbackReminders: z.boolean().describe('In-app reminders to share feedback'),
});

const privacySettings = z.strictObject({
  showEmailToTeammates: z.boolean().describe('Whoever can see a member list you are on (of your organizations, teams and projects) can see your email address'),
  searchable: z.boolean().describe('Your public profile can be found in search'),
});

export const userSettingsSchema = z.strictObject({
  email: emailSettings,
  notifications: notificationSettings,
  privacy: privacySettings,
});

export type UserSettings = z.infer<typeof userSettingsSchema>;

// The cache key's payload type (lib/cached-views.ts) must be exactly what this schema produces.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
true satisfies Same<UserSettings, CachedUserSettings>;

/** Body of PUT /settings: any subset of the document (deep partial), still strict at every level. */
export const settingsPatchSchema = z.strictObject({
  email: emailSettings.partial().optional(),
  notifications: notificationSettings.partial().optional(),
  privacy: privacySettings.partial().optional(),
});

export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

/** What a user has until they change it. Never hand this object out: `resolveSettings` copies it. */
export const DEFAULT_SETTINGS: Readonly<UserSettings> = Object.freeze({
  email: Object.freeze({ weeklyFeedback: true, productUpdates: true }),
  notifications: Object.freeze({ stars: true, teamActivity: true, feedbackReminders: true }),
  privacy: Object.freeze({ showEmailToTeammates: false, searchable: true }),
});

type Section = keyof UserSettings;
const SECTIONS = Object.keys(DEFAULT_SETTINGS) as Section[];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The known keys of a stored (possibly partial, possibly older) document whose values are booleans.
 * Anything else — unknown sections or keys, wrong types — is dropped.
 */
export function storedOverrides(stored: unknown): SettingsPatch {
  const out: Record<string, Record<string, boolean>> = {};
  if (!isRecord(stored)) return out;
  for (const section of SECTIONS) {
    const given = stored[section];
    if (!isRecord(given)) continue;
    for (const key of Object.keys(DEFAULT_SETTINGS[section])) {
      const value = given[key];
      if (typeof value === 'boolean') (out[section] ??= {})[key] = value;
    }
  }
  return out as SettingsPatch;
}

/** The full settings for a stored document: defaults, overridden by the stored known keys. */
export function resolveSettings(stored: unknown): UserSettings {
  const overrides = storedOverrides(stored) as Record<string, Record<string, boolean> | undefined>;
  const out = {} as Record<string, Record<string, boolean>>;
  for (const section of SECTIONS) out[section] = { ...DEFAULT_SETTINGS[section], ...overrides[section] };
  return out as UserSettings;
}

/** Stored overrides with a patch applied (keys the patch does not name are kept). */
export function applySettingsPatch(current: SettingsPatch, patch: SettingsPatch): SettingsPatch {
  const out: Record<string, Record<string, boolean>> = {};
  for (const section of SECTIONS) {
    const merged = { ...current[section], ...patch[section] } as Record<string, boolean | undefined>;
    for (const [k, v] of Object.entries(merged)) if (typeof v === 'boolean') (out[section] ??= {})[k] = v;
  }
  return out as SettingsPatch;
}
