import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import type { Redis } from 'ioredis'

export interface LimitStoreOptions {
  /** Counts in Redis, shared by every instance; without it, counts live in this process. */
  redis?: Redis
  /** Called on each Redis failure, before the count falls back to this process. */
  onRedisError?: (err: Error) => void
  /** Keys the in-process window remembers; an attacker rotating keys must not evict real ones cheaply. */
  cacheSize?: number
}

/**
 * The counter store for @fastify/rate-limit. With Redis, a failed count falls back to an
 * in-process window instead of skipping the limit (skipOnError would let a Redis outage switch
 * brute-force protection off): each instance then enforces the limits alone, so the effective
 * limit is at most N× for N instances until Redis returns. Keys already carry their policy and
 * dimension, so every route shares one store.
 */
export function createLimitStore(options: LimitStoreOptions = {}): FastifyRateLimitStoreCtor {
  const local = new LocalStore(false, false, options.cacheSize ?? 100_000)
  const shared = options.redis ? new RedisStore(false, false, options.redis, 'rate-limit:') : undefined

  return class LimitStore implements FastifyRateLimitStore {
    incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow: number, max: number): void {
      if (!shared) return local.incr(key, callback, timeWindow, max)
      shared.incr(key, (err, result) => {
        if (!err) return callback(null, result)
        options.onRedisError?.(err)
        local.incr(key, callback, timeWindow, max)
      }, timeWindow, max)
    }

    child(): FastifyRateLimitStore {
      return this
    }
  }
}
