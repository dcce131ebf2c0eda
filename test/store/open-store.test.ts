import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { migrateStore, openStore, parseDatabaseUrl } from '../../src/store/open-store.ts'
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite-migrations.ts'

const newUser = () => {
  const id = randomUUID()
  return { id, email: `${id}@example.com`, passwordHash: 'x', scope: 'user', createdAt: 1 }
}

describe('openStore', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-open-'))
    dirs.push(dir)
    return dir
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  it('opens an in-memory SQLite store from sqlite::memory:', async () => {
    const store = await openStore('sqlite::memory:')
    try {
      expect(store.kind).toBe('sqlite')
      const user = newUser()
      await store.createUser(user)
      expect((await store.findUserById(user.id))?.email).toBe(user.email)
    } finally {
      await store.close()
    }
  })

  it('opens a SQLite file, creating its directory, and keeps data across reopening', async () => {
    const path = join(tempDir(), 'nested', 'dir', 'latchkey.db')
    const user = newUser()
    const first = await openStore(`sqlite:${path}`)
    await first.createUser(user)
    await first.close()
    expect(existsSync(path)).toBe(true)

    const second = await openStore(`sqlite:${path}`)
    try {
      expect((await second.findUserByEmail(user.email))?.id).toBe(user.id)
    } finally {
      await second.close()
    }
  })

  it('migrateStore applies pending SQLite migrations once', async () => {
    const url = `sqlite:${join(tempDir(), 'data', 'latchkey.db')}`
    expect(await migrateStore(url)).toBe(SQLITE_MIGRATIONS.length)
    expect(await migrateStore(url)).toBe(0)
  })

  it('recognises postgres:// and postgresql:// and rejects other schemes without echoing the URL', () => {
    expect(parseDatabaseUrl('postgres://u:p@db/x').kind).toBe('postgres')
    expect(parseDatabaseUrl('postgresql://u:p@db/x').kind).toBe('postgres')
    expect(() => parseDatabaseUrl('mysql://root:hunter2@db/x')).toThrow(/scheme mysql: is not supported/)
    expect(() => parseDatabaseUrl('mysql://root:hunter2@db/x')).not.toThrow(/hunter2/)
    expect(() => parseDatabaseUrl('sqlite:')).toThrow(/needs a file path/)
  })
})
