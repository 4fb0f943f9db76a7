import type { User } from '../../db/schema';
import { AppError } from '../../lib/errors';

/** Formatting and paging shared by the membership views (no I/O). */

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Paths accept an id or a slug; slugs can never look like a uuid (DB check), so the shape decides. */
export const isUuid = (s: string): boolean => UUID_RE.test(s);

export const iso = (d: Date): string => d.toISOString();
export const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function displayName(u: { firstName: string | null; lastName: string | null; username?: string | null }): string | null {
  return [u.firstName, u.lastName].filter(Boolean).join(' ') || u.username || null;
}

/** Paginate an in-memory list (lists filtered by the permission functions). */
export function page<T>(items: T[], paging: Paging): { items: T[]; total: number } {
  return { items: items.slice(paging.offset, paging.offset + paging.limit), total: items.length };
}

export interface Paging {
  limit: number;
  offset: number;
}

/** SQLSTATE and constraint of a database error (drizzle wraps the driver's error in `cause`). */
function pgError(err: unknown): { code?: string; constraint?: string } | null {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return { code, constraint: (e as { constraint?: string }).constraint };
  }
  return null;
}

/** Turns a unique violation of one of `constraints` into 409 CONFLICT; rethrows anything else. */
export function conflictOn(err: unknown, constraints: Record<string, string>): never {
  const pg = pgError(err);
  if (pg?.code === '23505' && pg.constraint && constraints[pg.constraint]) throw new AppError('CONFLICT', constraints[pg.constraint]!);
  throw err;
}

/** `{ before, after }` restricted to the fields whose value changes, or null when nothing changes (audit rows). */
export function diff<T extends Record<string, unknown>>(current: T, patch: Partial<T>): { before: Partial<T>; after: Partial<T> } | null {
  const before: Partial<T> = {};
  const after: Partial<T> = {};
  for (const key of Object.keys(patch) as (keyof T)[]) {
    const next = patch[key];
    if (next === undefined) continue;
    const prev = current[key];
    const same = prev instanceof Date || next instanceof Date ? String(prev) === String(next) : prev === next;
    if (same) continue;
    before[key] = (prev ?? null) as T[keyof T];
    after[key] = (next ?? null) as T[keyof T];
  }
  return Object.keys(after).length ? { before, after } : null;
}

export interface ScopeMember {
  userId: string;
  name: string | null;
  /** Null unless the viewer may see it (see withVisibleEmails). */
  email: string | null;
  avatarUrl: string | null;
  role: { id: string; name: string };
  joinedAt: string;
}

/** A member as member lists and role changes show it (the caller decides whether the email is visible). */
export function scopeMemberView(u: Pick<User, 'id' | 'email' | 'firstName' | 'lastName' | 'username' | 'imageUrl'>, membership: { role: { id: string; name: string }; joinedAt: Date }): ScopeMember {
  const { role, joinedAt } = membership;
  return { userId: u.id, name: displayName(u), email: u.email, avatarUrl: u.imageUrl, role: { id: role.id, name: role.name }, joinedAt: iso(joinedAt) };
}
