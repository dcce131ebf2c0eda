import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { createLogger } from '../../src/logger.ts'
import { createRedisClient, waitForRedis } from '../../src/redis-client.ts'

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
  const redis = new Redis(url, { keyPrefix, maxRetriesPerRequest: 1, connectTimeout: 2000, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null })
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

/** A Redis client built exactly as the server builds it, logging into `logs`. */
export async function productionRedisClient(url: string, keyPrefix: string): Promise<{ redis: Redis; logs: string[] }> {
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    },
  })
  const redis = createRedisClient({ url, keyPrefix, logger: createLogger('warn', sink) })
  if (!(await waitForRedis(redis, 5000))) {
    redis.disconnect()
    throw new Error(`Redis at ${url} is not reachable`)
  }
  return { redis, logs }
}

/** Swaps the port of a redis:// URL, to route the client through a test proxy. */
export function viaPort(url: string, port: number): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(port)
  return u.toString()
}
