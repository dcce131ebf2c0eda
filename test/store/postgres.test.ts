import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { POSTGRES_MIGRATIONS, migratePostgres } from '../../src/store/postgres-migrations.ts'
import { createPostgresStore, type PostgresStore } from '../../src/store/postgres.ts'
import type { Store } from '../../src/store/store.ts'
import { runStoreConformance } from './conformance.ts'
import { runFactorStoreConformance } from './factor-conformance.ts'
import { runMailStoreConformance } from './mail-conformance.ts'
import { runPasskeyStoreConformance } from './passkey-conformance.ts'
import { runRetentionConformance } from './retention-conformance.ts'
import { runUserTransferConformance } from './user-transfer-conformance.ts'

const url = process.env.TEST_DATABASE_URL
// An unreachable server must fail the suite within the hook timeout, not hang it.
const pool = { connectionTimeoutMillis: 5000 }

if (!url) {
  console.warn('PostgreSQL suite SKIPPED: TEST_DATABASE_URL is not set')
  describe.skip('PostgreSQL store (set TEST_DATABASE_URL to run)', () => {
    it('runs the store conformance suite against PostgreSQL', () => {})
  })
} else {
  const databaseUrl = url
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2, ...pool })
  const schemas = new WeakMap<Store, string>()
  const freshSchema = () => `latchkey_test_${randomBytes(6).toString('hex')}`
  const dropSchema = (schema: string) => admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)

  afterAll(() => admin.end())

  // Each store gets its own schema, so test files and reruns never see each other's rows.
  async function makeStore(schema = freshSchema(), max = 10): Promise<PostgresStore> {
    const store = createPostgresStore({ connectionString: databaseUrl, schema, pool: { ...pool, max } })
    schemas.set(store, schema)
    try {
      await store.migrate()
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  }

  async function dispose(store: Store): Promise<void> {
    await store.close()
    const schema = schemas.get(store)
    if (schema) await dropSchema(schema)
  }

  runStoreConformance('postgres', () => makeStore(), dispose)
  runMailStoreConformance('postgres', () => makeStore(), dispose)
  runPasskeyStoreConformance('postgres', () => makeStore(), dispose)
  runFactorStoreConformance('postgres', () => makeStore(), dispose)
  runUserTransferConformance('postgres', () => makeStore(), dispose)
  runRetentionConformance('postgres', () => makeStore(), dispose)

  describe('PostgreSQL store across processes', () => {
    it('rotates exactly once when two pools race 50 rotations of one token', async () => {
      const a = await makeStore(freshSchema(), 25)
      const b = createPostgresStore({ connectionString: databaseUrl, schema: schemas.get(a), pool: { ...pool, max: 25 } })
      try {
        const T0 = 1_700_000_000_000
        const userId = randomUUID()
        await a.createUser({ id: userId, email: `${userId}@example.com`, passwordHash: 'x', scope: 'user', createdAt: T0 })
        await a.createSession({
          id: randomUUID(), userId, createdAt: T0, idleExpiresAt: T0 + 86_400_000, absoluteExpiresAt: T0 + 2 * 86_400_000,
          userAgent: null, ip: null, tokenHash: 'parent',
        })
        // Open every connection first, so the rotations contend on the row lock, not on connecting.
        await Promise.all([a, b].flatMap((s) => Array.from({ length: 25 }, () => s.ping())))

        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 ? b : a).rotateRefreshToken({
              tokenHash: 'parent', newTokenHash: `child-${i}`, newTokenSealed: `sealed-${i}`,
              now: T0 + 1000, graceMs: 10_000, idleMs: 86_400_000,
            }),
          ),
        )

        const winners = results.flatMap((r, i) => (r.outcome === 'rotated' ? [i] : []))
        expect(winners).toHaveLength(1)
        const winner = winners[0]!
        const losers = results.filter((r) => r.outcome !== 'rotated')
        expect(losers).toHaveLength(49)
        for (const r of losers) expect(r).toMatchObject({ outcome: 'grace', sealed: `sealed-${winner}` })
        // Only the winner's child exists: the losers' tokens were never stored.
        expect(await b.findSessionByTokenHash(`child-${winner}`)).not.toBeNull()
        expect(await b.findSessionByTokenHash(`child-${(winner + 1) % 50}`)).toBeNull()
      } finally {
        await b.close()
        await dispose(a)
      }
    })

    it('applies each migration once when two instances migrate a fresh schema at the same time', async () => {
      const schema = freshSchema()
      const pools = [1, 2].map(() => new pg.Pool({ connectionString: databaseUrl, ...pool }))
      try {
        const applied = await Promise.all(pools.map((p) => migratePostgres(p, schema)))
        expect(applied.sort()).toEqual([0, POSTGRES_MIGRATIONS.length])
        const { rows } = await admin.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)
        expect(rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1))
        expect(await migratePostgres(pools[0]!, schema)).toBe(0)
      } finally {
        await Promise.all(pools.map((p) => p.end()))
        await dropSchema(schema)
      }
    })

    it('openStore opens a migrated PostgreSQL store from a postgres:// URL', async () => {
      const schema = freshSchema()
      const store = await openStore(databaseUrl, { schema, pool })
      try {
        expect(store.kind).toBe('postgres')
        const id = randomUUID()
        expect(await store.createUser({ id, email: `${id}@example.com`, passwordHash: 'x', scope: 'user', createdAt: 1 }))
          .toMatchObject({ id, createdAt: 1 })
      } finally {
        await store.close()
        await dropSchema(schema)
      }
    })

    it('runs one purge at a time per schema: another instance skips while the advisory lock is held', async () => {
      const a = await makeStore()
      const b = await makeStore()
      const holder = await admin.connect()
      const cutoffs = { sessionsEndedBefore: 1, challengesExpiredBefore: 1, oneTimeTokensExpiredBefore: 1, mailSentBefore: 1, mailExpiredBefore: 1, batchSize: 100 }
      try {
        // What a purging instance holds: the lock of a's schema.
        await holder.query("SELECT pg_advisory_lock(hashtext('latchkey:purge:' || $1))", [schemas.get(a)])
        expect((await a.retention.purge(cutoffs)).ran).toBe(false)
        // Another deployment in the same database is not held up.
        expect((await b.retention.purge(cutoffs)).ran).toBe(true)
        await holder.query("SELECT pg_advisory_unlock(hashtext('latchkey:purge:' || $1))", [schemas.get(a)])
        expect((await a.retention.purge(cutoffs)).ran).toBe(true)
        // A finished purge let go of its lock: the holder takes it at once.
        const { rows } = await holder.query("SELECT pg_try_advisory_lock(hashtext('latchkey:purge:' || $1)) AS locked", [schemas.get(a)])
        expect(rows[0].locked).toBe(true)
        await holder.query('SELECT pg_advisory_unlock_all()')
      } finally {
        holder.release()
        await dispose(a)
        await dispose(b)
      }
    })

    // The adapter writes a batch's users before its events: only a failing event write shows they share a transaction.
    it('an import batch whose disable or re-enable event cannot be written keeps none of its changes', async () => {
      const store = await makeStore()
      const schema = schemas.get(store)!
      const T0 = 1_700_000_000_000
      const origin = { ip: null, userAgent: 'latchkey-cli', requestId: null }
      const batch = async (email: string, disabled: boolean) => {
        const session = await store.userTransfer.beginImport({ onConflict: 'update', dryRun: false, now: T0 + 5, audit: origin })
        try {
          return await session.writeBatch([{ line: 1, id: randomUUID(), email, emailVerified: null, createdAt: null, disabled, externalId: 'crm', passwordHash: null }])
        } finally {
          await session.close()
        }
      }
      try {
        const on = (await store.createUser({ id: randomUUID(), email: 'on@example.com', passwordHash: 'x', scope: 'user', createdAt: T0 }))!
        const off = (await store.createUser({ id: randomUUID(), email: 'off@example.com', passwordHash: 'x', scope: 'user', createdAt: T0 }))!
        await store.setUserDisabled(off.id, T0)
        const phone = randomUUID()
        await store.createSession({ id: phone, userId: on.id, createdAt: T0, idleExpiresAt: T0 + 3_600_000, absoluteExpiresAt: T0 + 7_200_000, userAgent: null, ip: null, tokenHash: randomUUID() })
        await admin.query(`CREATE FUNCTION ${schema}.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`)
        await admin.query(`CREATE TRIGGER refuse_audit BEFORE INSERT ON ${schema}.audit_events FOR EACH ROW
          WHEN (NEW.type IN ('account_disabled', 'account_enabled')) EXECUTE FUNCTION ${schema}.refuse_audit()`)

        await expect(batch('on@example.com', true)).rejects.toThrow(/audit refused/)
        await expect(batch('off@example.com', false)).rejects.toThrow(/audit refused/)
        expect(await store.findUserById(on.id)).toMatchObject({ disabledAt: null })
        expect(await store.findSession(phone)).toMatchObject({ revokedAt: null })
        expect(await store.findUserById(off.id)).toMatchObject({ disabledAt: T0 })
        expect(await store.userTransfer.exportUsers(null, 10)).toEqual([
          expect.objectContaining({ email: 'off@example.com', externalId: null }),
          expect.objectContaining({ email: 'on@example.com', externalId: null }),
        ])
        expect(await store.listAudit({ limit: 10 })).toEqual([])

        await admin.query(`DROP TRIGGER refuse_audit ON ${schema}.audit_events`)
        expect(await batch('on@example.com', true)).toEqual([{ outcome: 'updated', disables: { userId: on.id } }])
        expect(await store.findSession(phone)).toMatchObject({ revokedAt: T0 + 5 })
      } finally {
        await dispose(store)
      }
    })

    it('refuses a schema name that is not a plain identifier', () => {
      expect(() => createPostgresStore({ connectionString: databaseUrl, schema: 'x; DROP TABLE users' })).toThrow(/schema name/)
    })
  })
}
