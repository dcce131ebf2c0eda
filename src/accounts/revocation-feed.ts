import type { Store } from '../store/store.ts'
import type { RevokedSessionSet } from './revoked-sessions.ts'

/**
 * Wraps the store so every session it revokes — logout, reuse detection, revokeSession,
 * revokeUserSessions, whichever service or route asks — is also added to the revoked-session set.
 * Hooking the store rather than each caller means a revocation path added later cannot forget it.
 *
 * The store write comes first and stays the source of truth; if the set then fails, the error
 * propagates (a 503), and the client's retry publishes again: each override publishes even when
 * the store reports the session as already revoked — for a user's sessions, every one revoked
 * within the last `windowMs` (as long as the set remembers a revocation), not only those this call
 * changed — so retries converge.
 *
 * Disabling an account is not treated as a revocation here: enabling it again would have to
 * un-revoke its sessions. Disabling flows revoke the user's sessions through revokeUserSessions.
 */
export function withRevocationFeed(store: Store, revoked: RevokedSessionSet, windowMs: number): Store {
  // The store-backed set reads the store itself: there is nothing to publish.
  if (!revoked.shared) return store
  const overrides: Partial<Store> = {
    async revokeSession(sessionId, reason, now) {
      const changed = await store.revokeSession(sessionId, reason, now)
      await revoked.add([sessionId])
      return changed
    },
    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      const ids = await store.revokeUserSessions(userId, reason, now, exceptSessionId)
      await revoked.add(await store.listSessionIdsRevokedSince(userId, now - windowMs))
      return ids
    },
    async rotateRefreshToken(input) {
      const result = await store.rotateRefreshToken(input)
      if (result.outcome === 'reused' || result.outcome === 'revoked') await revoked.add([result.session.id])
      return result
    },
  }
  return new Proxy(store, {
    get(target, property) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof Store]
      const value: unknown = Reflect.get(target, property)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
