import { createHash } from 'node:crypto'
import type { DpopReplayCache } from '@latchkey/verifier'
import type { Redis } from 'ioredis'
import { DependencyUnavailableError } from '../dependency-unavailable.ts'

/**
 * DPoP proof ids seen by any instance (RFC 9449 §11.1): one key per (key thumbprint, jti), set only
 * if absent and expiring once the proof is too old to be accepted anyway. A replay sent to another
 * instance is caught there too. A Redis failure fails closed: the request is a 503, never a replay
 * let through.
 */
export function createRedisDpopReplayCache(redis: Redis): DpopReplayCache {
  return {
    async firstUse(jkt, jti, expiresAt, now) {
      // jti is client-chosen: hashed, so no client picks Redis key names or sizes.
      const key = `dpop-jti:${createHash('sha256').update(`${jkt}.${jti}`).digest('base64url')}`
      try {
        return (await redis.set(key, '1', 'EX', Math.max(1, expiresAt - now), 'NX')) === 'OK'
      } catch (err) {
        throw new DependencyUnavailableError('redis', err)
      }
    },
  }
}
