import { DatabaseSync } from 'node:sqlite'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { checkpointedRows } from '../helpers/checkpointed-rows.ts'
import { runStoreConformance } from './conformance.ts'
import { runFactorStoreConformance } from './factor-conformance.ts'
import { runMailStoreConformance } from './mail-conformance.ts'
import { runPasskeyStoreConformance } from './passkey-conformance.ts'
import { runRetentionConformance } from './retention-conformance.ts'
import { runUserTransferConformance } from './user-transfer-conformance.ts'

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

const backgroundErrors: Error[] = []
runStoreConformance(
  'sqlite file (WAL), checkpoints on their own thread',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    const store = createSqliteStore({ path: join(dir, 'test.db'), backgroundCheckpoints: { intervalMs: 10, onError: (err) => backgroundErrors.push(err) } })
    dirs.set(store, dir)
    return store
  },
  async (store) => {
    await store.close()
    rmSync(dirs.get(store)!, { recursive: true, force: true })
    expect(backgroundErrors).toEqual([])
  },
)

describe('sqlite background checkpoints', () => {
  async function writeSession(store: ReturnType<typeof createSqliteStore>): Promise<void> {
    const userId = randomUUID()
    await store.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: 1 })
    await store.createSession({ id: randomUUID(), userId, createdAt: 1, idleExpiresAt: 1e13, absoluteExpiresAt: 1e13, userAgent: null, ip: null, tokenHash: randomUUID() })
  }

  it('copy committed writes into the database file while the event loop only appends to the WAL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    const errors: Error[] = []
    try {
      const inline = createSqliteStore({ path: join(dir, 'inline.db') })
      const background = createSqliteStore({ path: join(dir, 'background.db'), backgroundCheckpoints: { intervalMs: 10, onError: (err) => errors.push(err) } })
      await writeSession(inline)
      await writeSession(background)
      let seen = 0
      for (let i = 0; i < 200 && seen !== 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        seen = checkpointedRows(join(dir, 'background.db'), 'sessions', dir)
      }
      expect(seen).toBe(1)
      // The control: inline, SQLite checkpoints only past 1,000 WAL pages, so the file has none yet.
      expect(checkpointedRows(join(dir, 'inline.db'), 'sessions', dir)).toBe(0)
      await inline.close()
      await background.close()
      expect(errors).toEqual([])
      // Closed with its thread: the file opens again with everything in it.
      const reopened = createSqliteStore({ path: join(dir, 'background.db') })
      expect(await reopened.countActiveSessions(2)).toBe(1)
      await reopened.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('sqlite group commit', () => {
  /** A store on a file of its own, with one account; the file is removed afterwards. */
  async function withFileStore(test: (store: Store, path: string, userId: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    try {
      const path = join(dir, 'test.db')
      const store = createSqliteStore({ path })
      const userId = randomUUID()
      await store.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: 1 })
      await test(store, path, userId)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  it('commits rotations still waiting for their turn when the store closes, and answers them', () =>
    withFileStore(async (store, path, userId) => {
      const session = { id: randomUUID(), userId, createdAt: 1, idleExpiresAt: 1e13, absoluteExpiresAt: 1e13, userAgent: null, ip: null, tokenHash: 'parent' }
      await store.createSession(session)
      const rotation = store.rotateRefreshToken({ tokenHash: 'parent', newTokenHash: 'child', newTokenSealed: 's', now: 2, graceMs: 0, idleMs: 1000 })
      await store.close()
      expect((await rotation).outcome).toBe('rotated')
      const reopened = createSqliteStore({ path })
      expect((await reopened.findSessionByTokenHash('child'))?.id).toBe(session.id)
      await reopened.close()
    }))

  it('takes back the writes of a rotation that fails, and only those: the rest of its batch is committed', () =>
    withFileStore(async (store, path, userId) => {
      const sessionIds = ['first', 'doomed', 'last']
      for (const id of sessionIds) {
        await store.createSession({ id, userId, createdAt: 1, idleExpiresAt: 1e13, absoluteExpiresAt: 1e13, userAgent: null, ip: null, tokenHash: `${id}-token` })
      }
      // The doomed session's audit row fails after its rotation has written its token rows and touched the session.
      const other = new DatabaseSync(path)
      other.exec(`CREATE TRIGGER refuse_doomed BEFORE INSERT ON audit_events WHEN NEW.session_id = 'doomed' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`)
      const audit = { ip: null, userAgent: null, requestId: null }
      const rotate = (id: string) =>
        store.rotateRefreshToken({ tokenHash: `${id}-token`, newTokenHash: `${id}-child`, newTokenSealed: 's', now: 2, graceMs: 0, idleMs: 1000, audit })
      // One turn of the event loop: one batch.
      const outcomes = await Promise.allSettled(sessionIds.map(rotate))
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.outcome : 'rejected'))).toEqual(['rotated', 'rejected', 'rotated'])
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('refused by the test')

      // The others' writes are committed, the doomed one's are not: no child, the parent unspent, the session untouched.
      expect((await store.findSessionByTokenHash('first-child'))?.id).toBe('first')
      expect((await store.findSessionByTokenHash('last-child'))?.id).toBe('last')
      expect(await store.findSessionByTokenHash('doomed-child')).toBeNull()
      expect(other.prepare("SELECT rotated_at FROM refresh_tokens WHERE hash = 'doomed-token'").get()).toEqual({ rotated_at: null })
      expect((await store.findSession('doomed'))?.lastUsedAt).toBe(1)
      const audited = other.prepare("SELECT session_id FROM audit_events WHERE type = 'refresh' ORDER BY seq").all()
      expect(audited).toEqual([{ session_id: 'first' }, { session_id: 'last' }])

      // Once the cause is gone the same token rotates: it was never spent.
      other.exec('DROP TRIGGER refuse_doomed')
      other.close()
      expect((await rotate('doomed')).outcome).toBe('rotated')
      await store.close()
    }))
})

runMailStoreConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))
runPasskeyStoreConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))
runFactorStoreConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))
runUserTransferConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))
runRetentionConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))
