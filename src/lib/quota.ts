import type { Config } from '../config';
import { getRedis } from './redis';

/*
 * Fail-closed abuse caps over sliding windows, for actions that cost money or reach third parties.
 * Unlike the coarse limits of rate-limit.ts (which let requests through when Redis is down), a cap that
 * cannot be counted refuses: `QuotaUnavailable` is thrown and the caller must not act.
 *
 * One Lua script checks every counter of a reservation and, only if all of them have room for `units`,
 * records the units in all of them — so a request either takes its whole share from every cap or nothing
 * (a bulk request over a cap is refused whole). Each counter is a sorted set of timestamped entries; the
 * entries older than its window are dropped first, so "at most N per hour" holds over any hour.
 */

export interface QuotaCounter {
  /** Redis key (from cacheKeys). */
  key: string;
  limit: number;
  windowMs: number;
}

export type QuotaReservation =
  | { granted: true; /** Give the units back (the action did not happen after all). Best effort. */ release(): Promise<void> }
  | { granted: false; /** Milliseconds until enough units free up in every refusing counter. */ retryAfterMs: number; /** The first counter that refused. */ refusedBy: string };

/** Redis is missing, unreachable or answered nonsense: nothing was counted, so nothing may be done. */
export class QuotaUnavailable extends Error {
  constructor(cause?: unknown) {
    super('quota store unavailable', { cause });
    this.name = 'QuotaUnavailable';
  }
}

// KEYS: the counters. ARGV: now (ms), units, entry id prefix, then limit and window (ms) per key.
// Returns {1, 0} when granted, or {0, wait ms, index of the first refusing key}.
const RESERVE = `
local now = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local wait, refused = 0, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local excess = redis.call('ZCARD', key) + units - limit
  if excess > 0 then
    local free_at = now + window
    if units <= limit then
      local entry = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
      free_at = tonumber(entry[2]) + window
    end
    if free_at - now > wait then wait = free_at - now end
    if refused == 0 then refused = i end
  end
end
if refused > 0 then return {0, wait, refused} end
for i, key in ipairs(KEYS) do
  for j = 1, units do redis.call('ZADD', key, now, ARGV[3] .. ':' .. j) end
  redis.call('PEXPIRE', key, tonumber(ARGV[3 + 2 * i]))
end
return {1, 0, 0}
`;

/** Take `units` from every counter at once, or from none. Throws QuotaUnavailable when it cannot count. */
export async function reserveQuota(config: Config, counters: QuotaCounter[], units: number): Promise<QuotaReservation> {
  const redis = getRedis(config);
  if (!redis) throw new QuotaUnavailable();
  const id = crypto.randomUUID();
  const args = [Date.now(), units, id, ...counters.flatMap((c) => [c.limit, c.windowMs])].map(String);
  let answer: unknown;
  try {
    answer = await redis.eval(RESERVE, counters.map((c) => c.key), args);
  } catch (err) {
    throw new QuotaUnavailable(err);
  }
  if (!Array.isArray(answer) || answer.length !== 3) throw new QuotaUnavailable(new Error('unexpected reply from the quota script'));
  const [granted, wait, refused] = answer.map(Number) as [number, number, number];
  if (granted !== 1) return { granted: false, retryAfterMs: Math.max(1, wait), refusedBy: counters[refused - 1]?.key ?? '' };
  const members = Array.from({ length: units }, (_, j) => `${id}:${j + 1}`);
  return {
    granted: true,
    release: async () => {
      await Promise.all(counters.map((c) => redis.zrem(c.key, ...members))).catch(() => undefined);
    },
  };
}
