import type { AddressInfo } from 'node:net'
import argon2 from 'argon2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics, type Metrics } from '../../src/metrics.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { fixtureRecord, importText, legacyFixtures, ndjson, type LegacyFixture } from './fixtures.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('PostgreSQL legacy sign-in suite SKIPPED: TEST_DATABASE_URL is not set')

const kinds: Array<{ kind: string; open: () => Promise<{ store: Store; dispose(): Promise<void> }> }> = [
  { kind: 'sqlite', open: async () => ({ store: createSqliteStore({ path: ':memory:' }), dispose: async () => undefined }) },
  ...(databaseUrl ? [{ kind: 'postgres', open: () => freshPostgresStore(databaseUrl, `latchkey_import_${Math.random().toString(16).slice(2, 10)}`) }] : []),
]

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

for (const { kind, open } of kinds) {
  describe(`imported password hashes sign in over HTTP (${kind})`, () => {
    let t: TestApp
    let base: string
    let fixtures: LegacyFixture[]
    let metrics: Metrics
    let dispose: () => Promise<void>

    beforeAll(async () => {
      const opened = await open()
      dispose = opened.dispose
      metrics = createMetrics()
      t = await createTestApp({ store: opened.store, deps: { metrics } })
      await t.app.listen({ host: '127.0.0.1', port: 0 })
      base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
      fixtures = await legacyFixtures(kind)
      const { report, rejects } = await importText(t.store.userTransfer, ndjson(fixtures.map(fixtureRecord)))
      expect(rejects).toEqual([])
      expect(report.imported).toBe(fixtures.length)
    }, 60_000)
    afterAll(async () => {
      await t?.close()
      await dispose?.()
    })

    const login = (email: string, password: string) =>
      fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })

    it('signs every imported user in with the old password, once the wrong one has failed, and upgrades the hash to argon2id', async () => {
      for (const fx of fixtures) {
        const before = (await t.store.findUserByEmail(fx.email))!
        const wrong = await login(fx.email, `${fx.password}x`)
        expect(wrong.status, fx.name).toBe(401)
        expect(((await wrong.json()) as { code: string }).code).toBe('invalid_credentials')
        expect((await t.store.findUserByEmail(fx.email))!.passwordHash, `${fx.name}: a failed sign-in keeps the hash`).toBe(before.passwordHash)

        const right = await login(fx.email, fx.password)
        expect(right.status, `${fx.name}: ${await right.clone().text()}`).toBe(200)
        const { access_token } = (await right.json()) as { access_token: string }
        const me = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${access_token}` } })
        expect(((await me.json()) as { email: string }).email).toBe(fx.email)

        const after = (await t.store.findUserByEmail(fx.email))!
        expect(after.passwordHash, fx.name).toMatch(/^\$argon2id\$v=19\$m=8192,p=1,t=1\$/)
        expect(await argon2.verify(after.passwordHash, fx.password)).toBe(true)
        // The upgraded hash serves the next sign-in, and the wrong password still fails.
        expect((await login(fx.email, fx.password)).status, fx.name).toBe(200)
        expect((await login(fx.email, `${fx.password}x`)).status, fx.name).toBe(401)
      }
    }, 120_000)

    it('records each upgrade from an imported hash in the audit log and the metrics', async () => {
      const events = await t.store.listAudit({ type: 'password_rehashed', limit: 100 })
      const legacy = fixtures.filter((fx) => fx.legacyAlgorithm !== undefined)
      expect(events).toHaveLength(legacy.length)
      for (const fx of legacy) {
        const user = (await t.store.findUserByEmail(fx.email))!
        const event = events.find((e) => e.userId === user.id)
        expect(event?.details, fx.name).toEqual({ from: fx.legacyAlgorithm })
        expect(event?.sessionId, `${fx.name}: the event names the session it was upgraded with`).not.toBeNull()
      }
      const text = await metrics.registry.metrics()
      expect(sample(text, 'latchkey_legacy_password_upgrades_total{algorithm="bcrypt"}')).toBe(3)
      expect(sample(text, 'latchkey_legacy_password_upgrades_total{algorithm="firebase-scrypt"}')).toBe(1)
      expect(sample(text, 'latchkey_audit_events_total{type="password_rehashed"}')).toBe(legacy.length)
    })
  })
}
