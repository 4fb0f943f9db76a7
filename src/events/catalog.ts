import { z } from 'zod';

const userId = z.string().min(1).max(255);

/**
 * Every domain event: its name and the zod schema of its payload. Payloads carry ids, never PII or
 * secrets: handlers read current state from the database when they run.
 */
export const EVENT_CATALOG = {
  'user.created': z.object({ userId }),
  'user.deleted': z.object({ userId }),
  'user.recovered': z.object({ userId, previousUserId: userId }),
  /** First/last name edited through PUT /profile: pushed to Clerk, which owns identity fields. */
  'user.name_changed': z.object({ userId }),
  'profile.starred': z.object({ profileId: z.uuid(), ownerId: userId, starredBy: userId }),
} as const;

export type EventName = keyof typeof EVENT_CATALOG;
export type EventPayload<N extends EventName> = z.infer<(typeof EVENT_CATALOG)[N]>;

/** What travels on the queue: the outbox row id is the event id handlers deduplicate on. */
export const EventEnvelope = z.object({
  id: z.uuid(),
  name: z.string(),
  payload: z.unknown(),
  emittedAt: z.string(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EVENT_CATALOG, name);
}
