import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createPostgresStore, type PostgresStore } from '../../src/store/postgres.ts'

/** A migrated PostgreSQL store in a schema of its own; dispose() drops the schema. */
export async function freshPostgresStore(databaseUrl: string, schema = `latchkey_test_${randomBytes(6).toString('hex')}`, max = 10): Promise<{ store: PostgresStore; schema: string; dispose(): Promise<void> }> {
  const store = createPostgresStore({ connectionString: databaseUrl, schema, pool: { max, connectionTimeoutMillis: 5000 } })
  await store.migrate()
  return {
    store,
    schema,
    async dispose() {
      await store.close().catch(() => undefined)
      const admin = new pg.Client({ connectionString: databaseUrl })
      await admin.connect()
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally {
        await admin.end()
      }
    },
  }
}
