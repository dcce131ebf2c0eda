import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import { runStoreConformance } from './conformance.ts'

runStoreConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))

const dirs = new Map<object, string>()
runStoreConformance(
  'sqlite file (WAL)',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    const store = createSqliteStore({ path: join(dir, 'test.db') })
    dirs.set(store, dir)
    return store
  },
  async (store) => {
    await store.close()
    rmSync(dirs.get(store)!, { recursive: true, force: true })
  },
)

describe('sqlite group commit', () => {
  it('commits rotations still waiting for their turn when the store closes, and answers them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    try {
      const path = join(dir, 'test.db')
      const store = createSqliteStore({ path })
      const userId = randomUUID()
      await store.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: 1 })
      const session = { id: randomUUID(), userId, createdAt: 1, idleExpiresAt: 1e13, absoluteExpiresAt: 1e13, userAgent: null, ip: null, tokenHash: 'parent' }
      await store.createSession(session)
      const rotation = store.rotateRefreshToken({ tokenHash: 'parent', newTokenHash: 'child', newTokenSealed: 's', now: 2, graceMs: 0, idleMs: 1000 })
      await store.close()
      expect((await rotation).outcome).toBe('rotated')
      const reopened = createSqliteStore({ path })
      expect((await reopened.findSessionByTokenHash('child'))?.id).toBe(session.id)
      await reopened.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
