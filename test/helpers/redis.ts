import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export const testRedisUrl = process.env.TEST_REDIS_URL

/** A key prefix no other test (or parallel test file) uses. */
export function uniqueRedisPrefix(): string {
  return `latchkey-test:${randomBytes(6).toString('hex')}:`
}

/**
 * Connects to TEST_REDIS_URL and proves it answers: an unreachable Redis fails the test rather than
 * skipping it. Options mirror src/redis-client.ts where they matter (no offline queue).
 */
export async function connectTestRedis(url: string, keyPrefix = ''): Promise<Redis> {
  const redis = new Redis(url, { keyPrefix, maxRetriesPerRequest: 1, connectTimeout: 2000, enableOfflineQueue: false, lazyConnect: true })
  redis.on('error', () => undefined)
  await redis.connect()
  await redis.ping()
  return redis
}

/** Deletes every key under `prefix` (SCAN patterns ignore keyPrefix, so this uses full names). */
export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = await connectTestRedis(url)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}
