import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { withRevocationFeed } from '../../src/accounts/revocation-feed.ts'
import type { RevokedSessionSet } from '../../src/accounts/revoked-sessions.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'

const T0 = 1_700_000_000_000
const DAY = 86_400_000

describe('withRevocationFeed', () => {
  let raw: Store
  let store: Store
  let published: string[]
  let failing: boolean
  let userId: string

  beforeEach(async () => {
    raw = createSqliteStore({ path: ':memory:' })
    published = []
    failing = false
    const set: RevokedSessionSet = {
      shared: true,
      isRevoked: async (id) => published.includes(id),
      add: async (ids) => {
        if (failing) throw new Error('redis down')
        published.push(...ids)
      },
    }
    store = withRevocationFeed(raw, set, 3_630_000)
    userId = randomUUID()
    await store.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: T0 })
  })
  afterEach(() => store.close())

  const session = async (tokenHash: string = randomUUID()) =>
    store.createSession({ id: randomUUID(), userId, createdAt: T0, idleExpiresAt: T0 + DAY, absoluteExpiresAt: T0 + 2 * DAY, userAgent: null, ip: null, tokenHash })

  it('publishes a session revoked by id, and publishes it again when a retry finds it already revoked', async () => {
    const s = await session()
    failing = true
    await expect(store.revokeSession(s.id, 'logout', T0)).rejects.toThrow('redis down')
    expect((await raw.findSession(s.id))?.revokedAt).toBe(T0)
    failing = false
    expect(await store.revokeSession(s.id, 'logout', T0 + 1)).toBe(false)
    expect(published).toEqual([s.id])
  })

  it('publishes every session revokeUserSessions revokes, and none it keeps', async () => {
    const [a, b, keep] = [await session(), await session(), await session()]
    await store.revokeUserSessions(userId, 'password_changed', T0, keep.id)
    expect(published.sort()).toEqual([a.id, b.id].sort())
  })

  it('a retry of revokeUserSessions after the set failed publishes what the first call revoked', async () => {
    const [a, b] = [await session(), await session()]
    failing = true
    await expect(store.revokeUserSessions(userId, 'account_disabled', T0)).rejects.toThrow('redis down')
    failing = false
    // The store has nothing left to revoke, but the sessions it revoked moments ago are published.
    expect(await store.revokeUserSessions(userId, 'account_disabled', T0 + 5)).toEqual([])
    expect(published.sort()).toEqual([a.id, b.id].sort())
  })

  it('publishes the session that reuse detection revokes inside the store', async () => {
    const s = await session('parent')
    const rotate = (now: number, child: string) =>
      store.rotateRefreshToken({ tokenHash: 'parent', newTokenHash: child, newTokenSealed: 'sealed', now, graceMs: 0, idleMs: DAY })
    expect((await rotate(T0 + 1000, 'child')).outcome).toBe('rotated')
    expect(published).toEqual([])
    expect((await rotate(T0 + 5000, 'other')).outcome).toBe('reused')
    expect(published).toEqual([s.id])
  })

  it('leaves every other store method as it is', async () => {
    expect(store.kind).toBe('sqlite')
    expect((await store.findUserById(userId))?.id).toBe(userId)
  })
})
