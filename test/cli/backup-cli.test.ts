import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { runLatchkey, type CliRunOptions } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'

describe('latchkey backup', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let env: Record<string, string>
  const run = (args: string[], options: CliRunOptions = {}) => runLatchkey(args, { ...options, env: { ...env, ...options.env } })

  beforeEach(async () => {
    dir = await tempDir('cli-backup')
    env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
  })
  afterEach(() => dir.remove())

  it('copies a consistent database while another connection holds it open', async () => {
    const created = await run(['users', 'create', '--email', 'kept@example.com'], { stdin: 'correct horse battery staple' })
    expect(created.code, created.stderr).toBe(0)
    // A server's connection: its writes stay in the WAL until a checkpoint.
    const live = await openStore(env.DATABASE_URL!)
    try {
      const file = join(dir.path, 'backups', 'latchkey.db')
      const res = await run(['backup', file])
      expect(res.code, res.stderr).toBe(0)
      expect(res.stdout).toMatch(/^backed up .* to .*latchkey\.db \(\d+ pages\)$/m)
      expect(existsSync(`${file}.partial`)).toBe(false)
      const copy = new DatabaseSync(file, { readOnly: true })
      try {
        expect(copy.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
        expect(copy.prepare('SELECT email FROM users').all()).toEqual([{ email: 'kept@example.com' }])
      } finally {
        copy.close()
      }
    } finally {
      await live.close()
    }
  })

  it('refuses to overwrite a file, to back up PostgreSQL or memory, and needs a file name', async () => {
    await run(['migrate'])
    const file = join(dir.path, 'once.db')
    expect((await run(['backup', file])).code).toBe(0)
    const again = await run(['backup', file])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('exists')
    const pg = await run(['backup', join(dir.path, 'pg.db')], { env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } })
    expect(pg.code).toBe(1)
    expect(pg.stderr).toContain('pg_dump')
    const memory = await run(['backup', join(dir.path, 'm.db')], { env: { DATABASE_URL: 'sqlite::memory:' } })
    expect(memory.code).toBe(1)
    expect((await run(['backup'])).code).toBe(2)
  })
})
