import type { Redis } from 'ioredis'
import type { RequestContext } from '../accounts/audit-log.ts'
import { withRevocationFeed } from '../accounts/revocation-feed.ts'
import { createStoreRevokedSessionSet, revocationTtlSeconds } from '../accounts/revoked-sessions.ts'
import type { Config } from '../config.ts'
import { openStore } from '../store/open-store.ts'
import type { Store } from '../store/store.ts'

/** What audit events written by the CLI record as their origin. */
export const CLI_CONTEXT: RequestContext = { ip: null, userAgent: 'latchkey-cli', requestId: null }

/**
 * The store as the server sees it: sessions the CLI revokes reach the same revoked-session set
 * (Redis when REDIS_URL is set), so a user disabled here is refused on revocation-checked routes at
 * once, exactly as when an admin disables them over HTTP.
 */
export async function withStore<T>(config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  const raw = await openStore(config.databaseUrl, { schema: config.databaseSchema })
  let redis: Redis | undefined
  try {
    let revoked = createStoreRevokedSessionSet(raw)
    if (config.redisUrl) {
      const { createRedisClient, waitForRedis } = await import('../redis-client.ts')
      const { createLogger } = await import('../logger.ts')
      const { createRedisRevokedSessionSet } = await import('../accounts/redis-revoked-sessions.ts')
      redis = createRedisClient({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, logger: createLogger('silent') })
      if (!(await waitForRedis(redis, 5000))) throw new Error(`Redis at REDIS_URL is not reachable; nothing was changed`)
      revoked = createRedisRevokedSessionSet({ redis, ttlSeconds: revocationTtlSeconds(config.clockTolerance) })
    }
    return await work(withRevocationFeed(raw, revoked, revocationTtlSeconds(config.clockTolerance) * 1000))
  } finally {
    redis?.disconnect()
    await raw.close()
  }
}
