import { join } from 'node:path'
import { openStore } from '../../src/store/open-store.ts'
import type { Store } from '../../src/store/store.ts'
import { freshPostgresStore } from './pg-schema.ts'

/** A store a test holds open, and the environment that points the real CLI process at the same data. */
export interface CliBackend {
  store: Store
  env: Record<string, string>
  dispose(): Promise<void>
}

/**
 * SQLite (a file in the test's directory) and PostgreSQL (a fresh schema, when TEST_DATABASE_URL is
 * set) for `describe.each`: [name, open(dir), enabled].
 */
export function cliBackends(databaseUrl: string | undefined): Array<[string, (dir: string) => Promise<CliBackend>, boolean]> {
  return [
    ['SQLite', async (dir) => {
      const url = `sqlite:${join(dir, 'latchkey.db')}`
      const store = await openStore(url)
      return { store, env: { DATABASE_URL: url }, dispose: () => store.close() }
    }, true],
    ['PostgreSQL', async () => {
      const pg = await freshPostgresStore(databaseUrl!)
      return { store: pg.store, env: { DATABASE_URL: databaseUrl!, DATABASE_SCHEMA: pg.schema }, dispose: pg.dispose }
    }, databaseUrl !== undefined],
  ]
}
