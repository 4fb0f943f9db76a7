import { timestamp, uuid } from 'drizzle-orm/pg-core';

// Shared column builders. Not re-exported from index.ts (they are not tables).

/** `timestamp with time zone`, surfaced as a JS Date. Used for every instant in the schema. */
export const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** `id uuid primary key default gen_random_uuid()`. */
export const uuidPk = () => uuid('id').primaryKey().defaultRandom();

/** `created_at timestamptz not null default now()`. */
export const createdAt = () => timestamptz('created_at').notNull().defaultNow();

/** `updated_at timestamptz not null default now()`, bumped by Drizzle on every update. */
export const updatedAt = () =>
  timestamptz('updated_at')
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date());
