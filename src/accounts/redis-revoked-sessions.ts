import type { Redis } from 'ioredis'
import { DependencyUnavailableError } from '../dependency-unavailable.ts'
import type { RevokedSessionSet } from './revoked-sessions.ts'

export interface RedisRevokedSessionSetOptions {
  /** A client whose keyPrefix namespaces this deployment's keys. */
  redis: Redis
  /** See revocationTtlSeconds: entries expire once no access token they cover can be valid. */
  ttlSeconds: number
}

const keyOf = (sessionId: string) => `revoked-session:${sessionId}`

/**
 * The revoked-session set shared by every instance: one key per revoked session, expiring by itself.
 * Any Redis failure is a DependencyUnavailableError, so revocation-checked routes fail closed (503)
 * rather than let a revoked session through.
 */
export function createRedisRevokedSessionSet({ redis, ttlSeconds }: RedisRevokedSessionSetOptions): RevokedSessionSet {
  return {
    shared: true,
    async isRevoked(sessionId) {
      try {
        return (await redis.exists(keyOf(sessionId))) === 1
      } catch (err) {
        throw new DependencyUnavailableError('redis', err)
      }
    },

    async add(sessionIds) {
      if (sessionIds.length === 0) return
      const pipeline = redis.pipeline()
      for (const id of sessionIds) pipeline.set(keyOf(id), '1', 'EX', ttlSeconds)
      let results: Array<[Error | null, unknown]> | null
      try {
        results = await pipeline.exec()
      } catch (err) {
        throw new DependencyUnavailableError('redis', err)
      }
      const failed = results?.find(([err]) => err)?.[0]
      if (!results || failed) throw new DependencyUnavailableError('redis', failed ?? new Error('pipeline not executed'))
    },
  }
}
