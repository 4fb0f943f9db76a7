import { Redis } from '@upstash/redis/cloudflare';
import type { Config } from '../config';

const REDIS_TIMEOUT_MS = 1500;
/** After this many consecutive failures to reach Redis (refused, timed out, garbled answer)… */
const FAILURES_BEFORE_SKIPPING = 2;
/** …skip it for this long in this isolate. */
const SKIP_MS = 5000;
const clients = new WeakMap<Config, Redis | null>();

/**
 * The Upstash client for this config, or null when Redis is not configured.
 * Every command is time-boxed: Redis is an optimisation and must never stall a request. Once commands
 * fail to reach Redis twice in a row, the following ones fail at once for a few seconds instead of each
 * waiting out its own timeout, so a request that touches Redis several times (rate limit, cache reads
 * and writes) pays for an outage about once, not per command; one slow answer alone changes nothing.
 * Callers treat the failure as they treat any: a cache miss, a coarse limit that lets the request through.
 */
export function getRedis(config: Config): Redis | null {
  if (clients.has(config)) return clients.get(config)!;
  const client =
    config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN
      ? new Redis({
          url: config.UPSTASH_REDIS_REST_URL,
          token: config.UPSTASH_REDIS_REST_TOKEN,
          enableTelemetry: false,
          retry: { retries: 1, backoff: () => 50 },
          signal: () => AbortSignal.timeout(REDIS_TIMEOUT_MS),
        })
      : null;
  if (client) {
    let failures = 0;
    let skipUntil = 0;
    client.use(async (req, next) => {
      if (Date.now() < skipUntil) throw Object.assign(new Error('Redis skipped after failing to reach it'), { name: 'RedisUnavailable' });
      try {
        const res = await next(req);
        failures = 0;
        return res;
      } catch (err) {
        // An UpstashError is Redis answering with an error (a bad command): Redis itself is reachable.
        if (err instanceof Error && err.name === 'UpstashError') failures = 0;
        else if (++failures >= FAILURES_BEFORE_SKIPPING) skipUntil = Date.now() + SKIP_MS;
        throw err;
      }
    });
  }
  clients.set(config, client);
  return client;
}
