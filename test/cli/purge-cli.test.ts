import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { runLatchkey } from '../helpers/cli.ts'
import { docBlock, runBlock } from '../helpers/doc-blocks.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'

const THIS = 'test/cli/purge-cli.test.ts'
const DAY = 86_400_000
const pgUrl = process.env.TEST_DATABASE_URL
if (!pgUrl) console.warn('latchkey purge on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

/** A session logged out 40 days ago (2 tokens), one 10 days ago (1 token), a live one with 3 rotations (4 tokens). */
async function seed(store: Store): Promise<{ live: string[]; old: string; recent: string }> {
  const now = Date.now()
  const userId = randomUUID()
  await store.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: now - 100 * DAY })
  const session = async (createdAt: number) => {
    const s = { id: randomUUID(), userId, createdAt, idleExpiresAt: now + 30 * DAY, absoluteExpiresAt: now + 60 * DAY, userAgent: null, ip: null, tokenHash: randomUUID() }
    await store.createSession(s)
    return s
  }
  const rotate = async (hashes: string[], at: number) => {
    const next = randomUUID()
    const r = await store.rotateRefreshToken({ tokenHash: hashes[hashes.length - 1]!, newTokenHash: next, newTokenSealed: 's', now: at, graceMs: 0, idleMs: 30 * DAY })
    expect(r.outcome).toBe('rotated')
    hashes.push(next)
  }
  const old = await session(now - 50 * DAY)
  await rotate([old.tokenHash], now - 45 * DAY)
  await store.revokeSession(old.id, 'logout', now - 40 * DAY)
  const recent = await session(now - 20 * DAY)
  await store.revokeSession(recent.id, 'logout', now - 10 * DAY)
  const live = await session(now - 20 * DAY)
  const liveTokens = [live.tokenHash]
  for (let i = 3; i > 0; i--) await rotate(liveTokens, now - i * DAY)
  return { live: liveTokens, old: old.id, recent: recent.id }
}

const counts = (stdout: string) => Object.fromEntries(stdout.trim().split('\n').slice(1).map((l) => l.split('\t')).map(([k, v]) => [k, Number(v)]))

describe('latchkey purge on SQLite', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  beforeEach(async () => {
    dir = await tempDir('cli-purge')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'latchkey.db')}` }
  })
  afterEach(() => dir.remove())

  it('deletes sessions ended over RETENTION_DAYS ago with their tokens, prints the counts, and leaves live sessions whole', async () => {
    const path = join(dir.path, 'latchkey.db')
    let store = createSqliteStore({ path })
    const seeded = await seed(store)
    await store.close()

    const res = runBlock(docBlock('docs/operations.md', 'npx latchkey purge', THIS), { env })
    expect(res.status, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/^purged in \d+ ms \(sessions ended over 30 days ago\):$/m)
    expect(counts(res.stdout)).toEqual({ refresh_tokens: 2, sessions: 1, mfa_challenges: 0, webauthn_challenges: 0, one_time_tokens: 0, outbox_messages: 0 })

    store = createSqliteStore({ path })
    try {
      expect(await store.findSession(seeded.old)).toBeNull()
      expect(await store.findSession(seeded.recent)).not.toBeNull()
      for (const hash of seeded.live) expect(await store.findSessionByTokenHash(hash)).not.toBeNull()
    } finally {
      await store.close()
    }

    // RETENTION_DAYS=7 reaches the session that ended 10 days ago; the live one stays.
    const shorter = await runLatchkey(['purge'], { env: { ...env, RETENTION_DAYS: '7' } })
    expect(shorter.code, shorter.stderr).toBe(0)
    expect(counts(shorter.stdout)).toMatchObject({ refresh_tokens: 1, sessions: 1 })
  })

  it('takes no arguments', async () => {
    const res = await runLatchkey(['purge', 'now'], { env })
    expect(res.code).toBe(2)
    expect(res.stderr).toContain('unexpected argument "now"')
  })
})

describe.skipIf(!pgUrl)('latchkey purge on PostgreSQL', () => {
  it('purges the schema, and does nothing while another instance holds the purge lock', async () => {
    const { store, schema, dispose } = await freshPostgresStore(pgUrl!)
    const holder = new pg.Client({ connectionString: pgUrl })
    await holder.connect()
    try {
      const seeded = await seed(store)
      const env = { DATABASE_URL: pgUrl!, DATABASE_SCHEMA: schema, KEYS_DIR: join('/nonexistent', 'keys') }
      await holder.query("SELECT pg_advisory_lock(hashtext('latchkey:purge:' || $1))", [schema])
      const skipped = await runLatchkey(['purge'], { env })
      expect(skipped.code, skipped.stderr).toBe(0)
      expect(skipped.stdout.trim()).toBe('another instance is purging this store right now; nothing done')
      expect(await store.findSession(seeded.old)).not.toBeNull()
      await holder.query("SELECT pg_advisory_unlock(hashtext('latchkey:purge:' || $1))", [schema])

      const res = await runLatchkey(['purge'], { env })
      expect(res.code, res.stderr).toBe(0)
      expect(counts(res.stdout)).toMatchObject({ refresh_tokens: 2, sessions: 1 })
      expect(await store.findSession(seeded.old)).toBeNull()
      for (const hash of seeded.live) expect(await store.findSessionByTokenHash(hash)).not.toBeNull()
    } finally {
      await holder.end()
      await dispose()
    }
  }, 30_000)
})
