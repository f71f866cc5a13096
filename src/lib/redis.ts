/** Redis connections, shared by the cache bus (db/notify.ts) and the rate limiter's store (http/security.ts). */
import { Redis, type RedisOptions } from 'ioredis';

/**
 * An ioredis connection with the service's defaults: bounded connect time, one retry per
 * command (a request never hangs on a dead Redis), reconnection with capped backoff.
 * Shared by the cache bus and the rate limiter's store.
 */
export function createRedis(url: string, overrides: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectTimeout: 5000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 5000),
    lazyConnect: true,
    ...overrides,
  });
}

/** A Redis URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(unparseable url)';
  }
}
