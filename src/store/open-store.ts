import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { createSqliteStore } from './sqlite.ts'
import type { Store } from './store.ts'

/** Opens the store DATABASE_URL names (sqlite:<path>, sqlite::memory:). */
export async function openStore(databaseUrl: string): Promise<Store> {
  if (databaseUrl === 'sqlite::memory:') return createSqliteStore({ path: ':memory:' })
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length)
    mkdirSync(dirname(path), { recursive: true })
    return createSqliteStore({ path })
  }
  throw new Error(`unsupported DATABASE_URL scheme: ${databaseUrl.split(':')[0]}`)
}
