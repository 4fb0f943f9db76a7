import { z } from 'zod';

/*
 * Text PostgreSQL can store. A text column refuses U+0000 (SQLSTATE 22021) and so does jsonb (22P05), so a NUL
 * that reaches a statement turns a client's odd input into a failed request. Client input is refused at
 * validation; what a provider signed and we must keep is cleaned instead.
 */

const NUL = '\u0000';
const NUL_MESSAGE = 'must not contain NUL (\\u0000) characters';

const withoutNulChar = (s: string) => !s.includes(NUL);

/** The building block of every free-text input schema: `text().trim().min(1).max(100)`. */
export const text = () => z.string().refine(withoutNulChar, NUL_MESSAGE);

/** An http(s) URL with a domain name, as a link field takes it (a URL parser accepts a NUL in the path). */
export const httpUrl = (max: number, error?: string) =>
  z.url({ protocol: /^https?$/, hostname: z.regexes.domain, ...(error ? { error } : {}) }).max(max).refine(withoutNulChar, NUL_MESSAGE);

/** A JSON value with U+0000 removed from every string, keys included (for jsonb and text columns). */
export function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return (value.includes(NUL) ? value.replaceAll(NUL, '') : value) as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)])) as T;
  }
  return value;
}
