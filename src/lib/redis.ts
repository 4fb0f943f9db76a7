import { Redis } from '@upstash/redis/cloudflare';
import type { Config } from '../config';

const clients = new WeakMap<Config, Redis | null>();

/**
 * The Upstash client for this config, or null when Redis is not configured.
 * Every command is time-boxed: Redis is an optimisation and must never stall a request.
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
          signal: () => AbortSignal.timeout(config.REDIS_TIMEOUT_MS),
        })
      : null;
  clients.set(config, client);
  return client;
}
