import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { PostgresStoreOptions } from './postgres.ts'
import { createSqliteStore, migrateSqlite, type SqliteStoreOptions } from './sqlite.ts'
import type { Store } from './store.ts'

export interface OpenStoreOptions {
  /** PostgreSQL: apply pending migrations before returning (default true). SQLite always migrates on open. */
  migrate?: boolean
  /** PostgreSQL: the schema holding Latchkey's tables (default: the server's search_path, normally `public`). */
  schema?: string
  pool?: PostgresStoreOptions['pool']
  onPoolError?: PostgresStoreOptions['onPoolError']
  /** SQLite: checkpoint the WAL on a thread of its own (a serving process; see sqlite-checkpointer.ts). */
  backgroundCheckpoints?: SqliteStoreOptions['backgroundCheckpoints']
}

export type StoreTarget =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; connectionString: string }

/**
 * `sqlite::memory:`, `sqlite:<path>`, `postgres://…` or `postgresql://…`. Errors name only the
 * scheme, never the URL, which may hold a password.
 */
export function parseDatabaseUrl(databaseUrl: string): StoreTarget {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length)
    if (path === '') throw new Error('DATABASE_URL "sqlite:" needs a file path or :memory:')
    return { kind: 'sqlite', path }
  }
  if (databaseUrl.startsWith('postgres://') || databaseUrl.startsWith('postgresql://')) {
    return { kind: 'postgres', connectionString: databaseUrl }
  }
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(databaseUrl)?.[0] ?? '(none)'
  throw new Error(`DATABASE_URL scheme ${scheme} is not supported: use sqlite: or postgres://`)
}

/** Opens the store a DATABASE_URL names, migrated unless `options.migrate === false` (PostgreSQL). */
export async function openStore(databaseUrl: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseDatabaseUrl(databaseUrl)
  if (target.kind === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true })
    return createSqliteStore({ path: target.path, ...(options.backgroundCheckpoints ? { backgroundCheckpoints: options.backgroundCheckpoints } : {}) })
  }
  // Loaded only for PostgreSQL: the embedded default should not pay pg's memory.
  const { createPostgresStore } = await import('./postgres.ts')
  const store = createPostgresStore({
    connectionString: target.connectionString,
    schema: options.schema,
    pool: options.pool,
    onPoolError: options.onPoolError,
  })
  if (options.migrate !== false) {
    try {
      await store.migrate()
    } catch (err) {
      await store.close()
      throw err
    }
  }
  return store
}

/** Applies pending migrations for `latchkey migrate`; returns how many ran. */
export async function migrateStore(databaseUrl: string, options: Pick<OpenStoreOptions, 'schema'> = {}): Promise<number> {
  const target = parseDatabaseUrl(databaseUrl)
  if (target.kind === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true })
    const db = new DatabaseSync(target.path)
    try {
      // A running server may hold the write lock for a moment.
      db.exec('PRAGMA busy_timeout = 5000')
      return migrateSqlite(db)
    } finally {
      db.close()
    }
  }
  const { createPostgresStore } = await import('./postgres.ts')
  const store = createPostgresStore({ connectionString: target.connectionString, schema: options.schema })
  try {
    return await store.migrate()
  } finally {
    await store.close()
  }
}
