import { z } from 'zod';
import { gender } from '../../db/schema/enums';
import { httpUrl, text } from '../../lib/text';

/**
 * Body of PUT /profile (the field rules: lengths, URL and handle formats, list sizes). A partial update: an absent key is unchanged,
 * `null` clears a field (arrays become empty, bio becomes ""), `""` clears a text or URL field.
 * Strict: an unknown key (e.g. `email`, `phoneNumber`, `userId`) is a 400 — email comes from Clerk and
 * the phone number only from the verified-OTP flow.
 */

const MIN_AGE_YEARS = 13;
const MAX_AGE_YEARS = 120;

const trimmed = (max: number) => text().trim().max(max);
const clearableText = (max: number) => trimmed(max).nullable().optional();
const list = (maxItems: number, maxLength: number) =>
  z.array(text().trim().min(1, 'must not be empty').max(maxLength)).max(maxItems).nullable().optional();
/** http(s) only: these are rendered as links, so `javascript:` and friends are refused. */
const link = z
  .union([z.literal(''), httpUrl(500, 'must be an http(s) URL')])
  .nullable()
  .optional();

/** YYYY-MM-DD shifted by whole years from today (UTC); string order is date order for this format. */
function yearsAgo(years: number): string {
  const now = new Date();
  return `${String(now.getUTCFullYear() - years).padStart(4, '0')}-${now.toISOString().slice(5, 10)}`;
}

const dateOfBirth = z.iso
  .date()
  .refine((v) => v <= new Date().toISOString().slice(0, 10), 'must not be in the future')
  .refine((v) => v <= yearsAgo(MIN_AGE_YEARS), `you must be at least ${MIN_AGE_YEARS}`)
  .refine((v) => v >= yearsAgo(MAX_AGE_YEARS), `must be within the last ${MAX_AGE_YEARS} years`);

export const profileUpdateSchema = z.strictObject({
  firstName: text().trim().min(1).max(100).optional(),
  lastName: clearableText(100),
  bio: trimmed(500).nullable().optional(),
  gender: z.enum(gender.enumValues).nullable().optional(),
  dateOfBirth: dateOfBirth.nullable().optional(),
  location: clearableText(200),
  jobTitle: clearableText(200),
  company: clearableText(200),
  yearsOfExperience: z.number().int().min(0).max(100).nullable().optional(),
  experiences: list(20, 500),
  education: list(20, 500),
  skills: list(100, 100),
  languages: list(50, 50),
  interests: list(50, 100),
  certifications: list(20, 200),
  awards: list(20, 200),
  githubUsername: trimmed(100)
    .regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, "-", "_" and "." only')
    .nullable()
    .optional(),
  twitterHandle: trimmed(100)
    .regex(/^@?[A-Za-z0-9_]*$/, 'letters, digits and "_" only')
    .nullable()
    .optional(),
  linkedinProfile: link,
  portfolioUrl: link,
  resumeUrl: link,
  isPublic: z.boolean().optional(),
  requireAuth: z.boolean().optional(),
  trackViews: z.boolean().optional(),
});

export type ProfileUpdate = z.infer<typeof profileUpdateSchema>;
