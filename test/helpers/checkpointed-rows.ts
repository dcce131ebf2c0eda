import { randomUUID } from 'node:crypto'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

/**
 * Rows of `table` in a SQLite database file itself, read from a copy of it without its WAL: what
 * has been checkpointed so far. 0 when not even the schema has reached the file; -1 when the copy
 * caught a checkpoint mid-write (look again).
 */
export function checkpointedRows(dbPath: string, table: string, scratchDir: string): number {
  const copy = join(scratchDir, `checkpointed-${randomUUID()}.db`)
  copyFileSync(dbPath, copy)
  const db = new DatabaseSync(copy, { readOnly: true })
  try {
    return Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n)
  } catch (err) {
    return /no such table/.test(String(err)) ? 0 : -1
  } finally {
    db.close()
  }
}
