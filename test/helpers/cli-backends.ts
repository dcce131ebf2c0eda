import { join } from 'node:path'
import { openStore } from '../../src/store/open-store.ts'
import type { Store } from '../../src/store/store.ts'
import { createTestApp, type TestApp } from './app.ts'
import { tempDir } from './key-dir.ts'
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

/** A test's scratch directory, its backend, and an app on the same store: what the real CLI process is checked against. */
export interface CliTestApp {
  dir: { path: string; remove(): Promise<void> }
  backend: CliBackend
  t: TestApp
  /** The environment for runLatchkey: the backend's database and a key directory in `dir`. */
  env: Record<string, string>
}

export async function startCliTestApp(open: (dir: string) => Promise<CliBackend>, prefix: string): Promise<CliTestApp> {
  const dir = await tempDir(prefix)
  const backend = await open(dir.path)
  const t = await createTestApp({ store: backend.store })
  // The CLI runs on the real clock: sessions must be live at its time.
  t.clock.set(Date.now())
  return { dir, backend, t, env: { ...backend.env, KEYS_DIR: join(dir.path, 'keys') } }
}

export async function stopCliTestApp({ dir, backend, t }: CliTestApp): Promise<void> {
  await t.app.close()
  await backend.dispose()
  await dir.remove()
}
