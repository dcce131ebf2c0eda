import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import { runStoreConformance } from './conformance.ts'

runStoreConformance('sqlite in memory', async () => createSqliteStore({ path: ':memory:' }))

const dirs = new Map<object, string>()
runStoreConformance(
  'sqlite file (WAL)',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'))
    const store = createSqliteStore({ path: join(dir, 'test.db') })
    dirs.set(store, dir)
    return store
  },
  async (store) => {
    await store.close()
    rmSync(dirs.get(store)!, { recursive: true, force: true })
  },
)
