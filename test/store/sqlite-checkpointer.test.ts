import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { describe, expect, it } from 'vitest'
import { startWalCheckpointer } from '../../src/store/sqlite-checkpointer.ts'
import { checkpointedRows } from '../helpers/checkpointed-rows.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A WAL database holding `rows` rows that SQLite has not checkpointed: the writer stays open. */
function walDatabaseWithRows(path: string, rows: number): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA wal_autocheckpoint = 0')
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY)')
  const insert = db.prepare('INSERT INTO items DEFAULT VALUES')
  for (let i = 0; i < rows; i++) insert.run()
  return db
}

describe('WAL checkpoint thread', () => {
  it('is started again after it stops on its own, and then checkpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-checkpointer-'))
    const dataDir = join(dir, 'data') // not there yet: the first threads cannot open the file
    const errors: string[] = []
    const checkpointer = startWalCheckpointer({ path: join(dataDir, 'db.sqlite'), intervalMs: 10, restartDelayMs: 20, onError: (err) => errors.push(err.message) })
    let writer: DatabaseSync | undefined
    try {
      await expect.poll(() => errors.filter((m) => /stopped \(exit code 1\); starting it again in 20 ms/.test(m)).length, { timeout: 5000 }).toBeGreaterThanOrEqual(1)
      expect(errors.some((m) => /unable to open database file/.test(m))).toBe(true)
      // Each restart in a row waits twice as long.
      await expect.poll(() => errors.some((m) => /starting it again in 40 ms/.test(m)), { timeout: 5000 }).toBe(true)

      mkdirSync(dataDir)
      writer = walDatabaseWithRows(join(dataDir, 'db.sqlite'), 3)
      expect(checkpointedRows(join(dataDir, 'db.sqlite'), 'items', dir)).toBe(0) // all of it still in the WAL
      await expect.poll(() => checkpointedRows(join(dataDir, 'db.sqlite'), 'items', dir), { timeout: 10_000 }).toBe(3)
    } finally {
      await checkpointer.close()
      writer?.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('is not started again once closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-checkpointer-'))
    const errors: string[] = []
    const checkpointer = startWalCheckpointer({ path: join(dir, 'missing', 'db.sqlite'), intervalMs: 10, restartDelayMs: 20, onError: (err) => errors.push(err.message) })
    try {
      await expect.poll(() => errors.some((m) => /starting it again/.test(m)), { timeout: 5000 }).toBe(true)
      await checkpointer.close()
      const reported = errors.length
      await sleep(200) // ten first restart delays
      expect(errors.length).toBe(reported)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
