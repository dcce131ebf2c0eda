import type { Store } from '../store/store.ts'

/**
 * The revoked-session set consulted by revocation-checked routes. This implementation asks the store
 * (a primary-key lookup); a Redis-backed one shares it between instances without touching the store.
 */
export interface RevokedSessionSet {
  isRevoked(sessionId: string): Promise<boolean>
}

export function createStoreRevokedSessionSet(store: Store): RevokedSessionSet {
  return {
    async isRevoked(sessionId) {
      const session = await store.findSession(sessionId)
      return session === null || session.revokedAt !== null
    },
  }
}
