import { z } from 'zod';
import type { Config } from '../config';
import { httpCall, jsonOf } from '../lib/http';
import { withoutNul } from '../lib/text';
import { traceHeaders } from '../lib/trace';

/** A name as we can store it: NUL removed and cut to 200 characters. Clerk accepted it, so it never refuses the user. */
const name = z
  .string()
  .nullish()
  .transform((s) => (s == null ? s : withoutNul(s).slice(0, 200)));

const Email = z.email();

/**
 * The parts of Clerk's User JSON we keep (same shape in webhooks and the Backend API). Only the primary address
 * is used, so only it must be a valid address: an odd secondary one never refuses the user's every update.
 */
export const ClerkUserJson = z
  .object({
    id: z.string().min(1).max(255),
    email_addresses: z.array(z.object({ id: z.string(), email_address: z.string(), verification: z.object({ status: z.string() }).nullish() })).default([]),
    primary_email_address_id: z.string().nullish(),
    first_name: name,
    last_name: name,
    username: name,
    image_url: z.url().nullish(),
  })
  .superRefine((u, ctx) => {
    const i = u.email_addresses.findIndex((e) => e.id === u.primary_email_address_id);
    if (i >= 0 && !Email.safeParse(u.email_addresses[i]!.email_address).success) {
      ctx.addIssue({ code: 'custom', path: ['email_addresses', i, 'email_address'], message: 'the primary address is not a valid email address' });
    }
  });
export type ClerkUserJson = z.infer<typeof ClerkUserJson>;

export interface ClerkUserFields {
  id: string;
  /** Primary email, lower-cased; null when Clerk has none. */
  email: string | null;
  /** Whether Clerk verified that address: only a verified address may recover an account or replace ours. */
  emailVerified: boolean;
  firstName: string | null;
  lastName: string | null;
  username: string | null;
  imageUrl: string | null;
}

export function toUserFields(u: ClerkUserJson): ClerkUserFields {
  const primary =
    u.email_addresses.find((e) => e.id === u.primary_email_address_id) ?? u.email_addresses.find((e) => Email.safeParse(e.email_address).success);
  return {
    id: u.id,
    email: primary?.email_address.toLowerCase() ?? null,
    emailVerified: primary?.verification?.status === 'verified',
    firstName: u.first_name ?? null,
    lastName: u.last_name ?? null,
    username: u.username ?? null,
    imageUrl: u.image_url ?? null,
  };
}

/** PATCH /v1/users/:id with the names we hold (Clerk is the source of truth for identity fields). */
export async function updateClerkUserNames(config: Config, userId: string, names: { firstName: string | null; lastName: string | null }): Promise<void> {
  if (!config.CLERK_SECRET_KEY) throw new Error('CLERK_SECRET_KEY is not configured');
  const res = await httpCall(
    'Clerk user update',
    `${config.CLERK_API_BASE_URL}/v1/users/${encodeURIComponent(userId)}`,
    {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${config.CLERK_SECRET_KEY}`, 'Content-Type': 'application/json', ...traceHeaders() },
      body: JSON.stringify({ first_name: names.firstName, last_name: names.lastName }),
    },
    5000,
  );
  if (!res.ok) throw new Error(`Clerk user update failed with ${res.status}`);
}

/** GET /v1/users/:id on Clerk's Backend API (used once, when an unknown user first calls us). */
export async function fetchClerkUser(config: Config, userId: string): Promise<ClerkUserFields> {
  if (!config.CLERK_SECRET_KEY) throw new Error('CLERK_SECRET_KEY is not configured');
  const res = await httpCall(
    'Clerk user lookup',
    `${config.CLERK_API_BASE_URL}/v1/users/${encodeURIComponent(userId)}`,
    { headers: { Authorization: `Bearer ${config.CLERK_SECRET_KEY}`, ...traceHeaders() } },
    3000,
  );
  if (!res.ok) throw new Error(`Clerk user lookup failed with ${res.status}`);
  return toUserFields(ClerkUserJson.parse(jsonOf(res)));
}
