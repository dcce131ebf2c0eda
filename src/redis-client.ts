import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

export interface RedisClientOptions {
  url: string
  keyPrefix: string
  logger: FastifyBaseLogger
}

/**
 * A Redis client tuned to fail fast: while Redis is down, commands reject at once (no offline
 * queue, one attempt, a short timeout) so rate limiting can fall back to per-process counters and
 * revocation checks can answer 503 instead of holding requests. ioredis keeps reconnecting in the
 * background; recovery needs no restart.
 */
export function createRedisClient({ url, keyPrefix, logger }: RedisClientOptions): Redis {
  const redis = new Redis(url, {
    keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  })
  // Log transitions, not every reconnect attempt: one line when Redis goes away, one when it is back.
  let healthy = true
  redis.on('ready', () => {
    if (!healthy) logger.warn('redis connection restored')
    healthy = true
  })
  redis.on('error', (err: Error) => {
    if (!healthy) return
    healthy = false
    logger.error({ reason: err.message }, 'redis unavailable: rate limits fall back to per-process counters; revocation-checked routes answer 503')
  })
  return redis
}

/** Resolves once the client is ready, or after `timeoutMs`; true when ready. */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady)
      resolve(false)
    }, timeoutMs)
    const onReady = () => {
      clearTimeout(timer)
      resolve(true)
    }
    redis.once('ready', onReady)
  })
}
