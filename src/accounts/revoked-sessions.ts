import type { Store } from '../store/store.ts'
import { MAX_ACCESS_TOKEN_LIFETIME } from '@latchkey/verifier'

/**
 * The revoked-session set consulted by revocation-checked routes. The store-backed one asks the
 * store (a primary-key lookup); the Redis one (redis-revoked-sessions.ts) shares revocations
 * between instances without touching the store.
 */
export interface RevokedSessionSet {
  /** False where the store itself is the set: nothing needs publishing. */
  readonly shared: boolean
  isRevoked(sessionId: string): Promise<boolean>
  /** Records sessions the store has just revoked. A no-op where the store itself is the set. */
  add(sessionIds: readonly string[]): Promise<void>
}

export function createStoreRevokedSessionSet(store: Store): RevokedSessionSet {
  return {
    shared: false,
    async isRevoked(sessionId) {
      const session = await store.findSession(sessionId)
      return session === null || session.revokedAt !== null
    },
    async add() {},
  }
}

/**
 * How long a revocation must be remembered: until no access token of the session can still pass
 * verification. The verifier accepts lifetimes up to MAX_ACCESS_TOKEN_LIFETIME whatever
 * ACCESS_TOKEN_TTL is now (tokens minted before a config change stay valid), plus the clock
 * tolerance it grants on `exp`.
 */
export function revocationTtlSeconds(clockTolerance: number): number {
  return MAX_ACCESS_TOKEN_LIFETIME + clockTolerance
}
