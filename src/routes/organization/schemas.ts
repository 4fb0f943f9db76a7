import { errors, httpUrl, text, z } from '../kit';

// Request and response schemas shared by /organization, /team and /project, and their standard refusals.

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The error answers every protected route of this area can give. */
export const common = errors({
  400: 'Invalid path, query or body',
  401: 'No valid session',
  404: 'No such organization/team/project, deleted, or not visible to the caller (existence is never revealed)',
  429: 'Per-user rate limit of this kind of operation exceeded (Retry-After)',
});
export const forbidden = errors({ 403: 'A member lacking the permission this operation needs' });
/** Routes that send invitation emails: the fail-closed invite-mail cap. */
export const inviteMailCap = errors({
  429: 'Per-user rate limit, or the invite-mail cap (per inviter per hour, per organization per day) would be passed: nothing was created or sent (Retry-After)',
  503: 'The invite-mail counters cannot be reached: nothing was created or sent (Retry-After)',
});
export const conflict = (what: string) => errors({ 409: what });

/** uuid, or a slug (any case; slugs are stored lower-case). */
export const IdOrSlug = z.string().min(1).max(100).regex(/^[A-Za-z0-9-]+$/, 'an id (uuid) or a slug');

export const Name = text().trim().min(1).max(100);
export const Slug = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(50)
  .regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and -')
  .refine((s) => !UUID_RE.test(s), 'a slug cannot look like a uuid')
  .openapi({ description: 'Normalised to lower case before validation', example: 'acme-labs' });

const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const HttpUrl = httpUrl(2048);
export const Profile = {
  description: text().trim().max(500).nullable().optional(),
  website: HttpUrl.nullable().optional(),
  logoUrl: HttpUrl.nullable().optional(),
  location: text().trim().max(100).nullable().optional(),
  timezone: text().max(64).refine(isTimeZone, 'an IANA time zone such as Asia/Kolkata').nullable().optional(),
};

export const Visibility = z.enum(['PUBLIC', 'INTERNAL', 'PRIVATE']).openapi('Visibility', {
  description: 'PUBLIC / INTERNAL: every member of the organization can read it; PRIVATE: its members (and roles managing every team/project) only',
});


export const atLeastOne = (o: Record<string, unknown>) => Object.values(o).some((v) => v !== undefined);

export const RoleRefOut = z.object({ id: z.uuid(), name: z.string() });
export const RoleWithPermissions = z.object({ id: z.uuid(), name: z.string(), permissions: z.array(z.string()) });

export const Role = z
  .object({ id: z.uuid(), name: z.string(), description: z.string().nullable(), permissions: z.array(z.string()), isDefault: z.boolean() })
  .openapi('AccessRole');

export const Member = z
  .object({
    userId: z.string(),
    name: z.string().nullable(),
    email: z.string().nullable().openapi({ description: 'Shown to the member, to member managers, or when the member allows it (settings privacy.showEmailToTeammates)' }),
    avatarUrl: z.string().nullable(),
    role: RoleRefOut,
    joinedAt: z.iso.datetime(),
  })
  .openapi('ScopeMember');

export const AuditLogEntry = z
  .object({
    id: z.uuid(),
    action: z.string().openapi({ example: 'organization.update' }),
    level: z.enum(['INFO', 'WARN', 'CRITICAL']),
    actor: z.object({ id: z.string(), name: z.string().nullable() }).nullable(),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    changes: z.record(z.string(), z.unknown()).nullable().openapi({ description: '{ before, after } of the changed fields, or details' }),
    createdAt: z.iso.datetime(),
  })
  .openapi('AuditLogEntry');

export const InviteStatus = z.enum(['pending', 'used', 'expired', 'declined', 'revoked']);
/** `?status=` of the invite lists (default pending). */
export const InviteStatusQuery = z.union([InviteStatus, z.literal('all')]).default('pending');

export const Invite = z
  .object({
    id: z.uuid(),
    email: z.string(),
    role: RoleRefOut,
    status: InviteStatus,
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    invitedBy: z.object({ id: z.string(), name: z.string().nullable() }).nullable(),
    usedAt: z.iso.datetime().nullable(),
  })
  .openapi('Invitation', { description: 'The code itself is only ever sent in the invitation email' });

export const InviteCode = z.string().min(20).max(128).regex(/^[A-Za-z0-9_-]+$/, 'an invitation code');
export const CodeBody = z.object({ code: InviteCode }).strict();

export const Email = text().trim().toLowerCase().pipe(z.email().max(254));
export const ExpiresInDays = z.number().int().min(1).max(30).default(7).openapi({ description: 'Days until the invitation expires (1–30, default 7)' });
export const RoleInput = text().trim().min(1).max(100).openapi({ description: 'Role id or name (default Member)' });
