import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { backup, DatabaseSync } from 'node:sqlite'
import type { Config } from '../config.ts'
import { parseDatabaseUrl } from '../store/open-store.ts'
import { CommandError, type CliIo } from './cli-io.ts'

/**
 * `latchkey backup <file>`: an online copy of the SQLite database through SQLite's backup API, taken
 * while servers keep serving (it copies pages in steps and restarts a step a writer changed), so the
 * file is one consistent moment of the database, WAL included. Written beside the target and renamed
 * into place, so a half-written backup never carries the final name. PostgreSQL has its own tools
 * (pg_dump), which know its locking and versions better than any wrapper here.
 */
export async function backupStore(config: Config, io: CliIo, file: string): Promise<void> {
  const target = parseDatabaseUrl(config.databaseUrl)
  if (target.kind === 'postgres') {
    throw new CommandError('backup copies a SQLite database; for PostgreSQL use pg_dump --format=custom (docs/operations.md, "Restoring from a backup")')
  }
  if (target.path === ':memory:') throw new CommandError('DATABASE_URL is sqlite::memory:: there is no database file to back up')
  if (!existsSync(target.path)) throw new CommandError(`no database at ${target.path}`)
  const destination = resolve(file)
  if (destination === resolve(target.path)) throw new CommandError('the backup file must not be the database itself')
  if (existsSync(destination)) throw new CommandError(`${file} exists; choose a new file name`)
  mkdirSync(dirname(destination), { recursive: true })
  const partial = `${destination}.partial`
  rmSync(partial, { force: true })
  const db = new DatabaseSync(target.path)
  try {
    db.exec('PRAGMA busy_timeout = 5000')
    const pages = await backup(db, partial, { rate: 1000 })
    renameSync(partial, destination)
    io.out(`backed up ${target.path} to ${file} (${pages} pages)`)
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  } finally {
    db.close()
  }
}
