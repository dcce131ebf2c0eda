import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openStore } from '../../src/store/open-store.ts'
import { bearer, createAdmin, DPOP_CHALLENGE, loginAs, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'
import { cliBackends, startCliTestApp, stopCliTestApp, type CliBackend, type CliTestApp } from '../helpers/cli-backends.ts'
import { runLatchkey } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { connectTestRedis, deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../helpers/redis.ts'
import { ndjson } from './fixtures.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('users import disabling accounts on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

const backends = cliBackends(databaseUrl)

describe.each(backends)('latchkey users import with disabled: true (%s)', (_name, open, enabled) => {
  let dir: CliTestApp['dir']
  let backend: CliBackend
  let t: TestApp
  const importFile = async (records: unknown[], args: string[] = ['--on-conflict', 'update']) => {
    const path = join(dir.path, `${randomUUID()}.ndjson`)
    await writeFile(path, ndjson(records))
    return runLatchkey(['users', 'import', ...args, path], { env: h.env })
  }

  let h: CliTestApp
  beforeEach(async () => {
    if (!enabled) return
    h = await startCliTestApp(open, 'import-disable')
    ;({ dir, backend, t } = h)
  })
  afterEach(async () => {
    if (enabled) await stopCliTestApp(h)
  })

  it.skipIf(!enabled)('revokes every session of an account it disables, as the admin disable does: tokens refused on checked routes, audited', async () => {
    const victim = await registerUser(t)
    const phone = await loginAs(t, victim.email, 'phone')
    const bystander = await registerUser(t)
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id

    const run = await importFile([{ email: victim.email, disabled: true }, { email: bystander.email, external_id: 'crm-1' }])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('updated 2')

    for (const token of [victim.access_token, phone.access_token]) {
      const checked = await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(token) })
      expect(checked.statusCode).toBe(401)
      expect(checked.json().code).toBe('session_revoked')
      expect(checked.headers['www-authenticate']).toBe(`Bearer realm="latchkey", error="invalid_token", error_description="this session has been revoked", ${DPOP_CHALLENGE}`)
    }
    const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: phone.refresh_token } })
    expect(refresh.statusCode).toBe(403)
    expect(refresh.json().code).toBe('account_disabled')
    expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(bystander.access_token) })).statusCode).toBe(200)

    const sessions = await backend.store.listActiveSessions(victimId, t.clock.now())
    expect(sessions).toEqual([])
    const revoked = await backend.store.listAudit({ userId: victimId, type: 'session_revoked', limit: 10 })
    expect(revoked.map((e) => e.details)).toEqual([{ reason: 'account_disabled' }, { reason: 'account_disabled' }])
    const disabled = await backend.store.listAudit({ userId: victimId, type: 'account_disabled', limit: 10 })
    expect(disabled).toHaveLength(1)
    expect(disabled[0]).toMatchObject({ actorId: null, userAgent: 'latchkey-cli', details: { via: 'import', revoked_sessions: 2 } })
    const bystanderId = (await backend.store.findUserByEmail(bystander.email))!.id
    expect(await backend.store.listAudit({ userId: bystanderId, type: 'session_revoked', limit: 10 })).toEqual([])
  })

  it.skipIf(!enabled)('a re-run audits no second disable, yet ends a session that appeared since (a racing sign-in, or a crash before the sweep)', async () => {
    const victim = await registerUser(t)
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id
    expect((await importFile([{ email: victim.email, disabled: true }])).code).toBe(0)

    // A session the batch did not see: created by a racing sign-in, or left by a run that stopped before its sweep.
    const late = randomUUID()
    await backend.store.createSession({ id: late, userId: victimId, createdAt: t.clock.now(), idleExpiresAt: t.clock.now() + 3_600_000, absoluteExpiresAt: t.clock.now() + 3_600_000, userAgent: null, ip: null, tokenHash: randomUUID() })
    const again = await importFile([{ email: victim.email, disabled: true }])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('unchanged 1')
    expect((await backend.store.findSession(late))?.revokedAt).not.toBeNull()
    expect(await backend.store.listAudit({ userId: victimId, type: 'account_disabled', limit: 10 })).toHaveLength(1)
    expect(await backend.store.listAudit({ userId: victimId, type: 'session_revoked', limit: 10 })).toHaveLength(2)
  })

  it.skipIf(!enabled)('skip, a dry run and a record that enables leave sessions alone', async () => {
    const user = await registerUser(t)
    expect((await importFile([{ email: user.email, disabled: true }], [])).stdout).toContain('skipped 1')
    expect((await importFile([{ email: user.email, disabled: true }], ['--dry-run', '--on-conflict', 'update'])).code).toBe(0)
    expect((await importFile([{ email: user.email, disabled: false }])).stdout).toContain('unchanged 1')
    expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(user.access_token) })).statusCode).toBe(200)
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })).statusCode).toBe(200)
  })

  it.skipIf(!enabled)('disabled: false on a disabled account re-enables it and audits account_enabled via import once; a re-run audits nothing', async () => {
    const admin = await createAdmin(t)
    const victim = await registerUser(t)
    const bystander = await registerUser(t)
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id
    expect((await t.inject({ method: 'POST', url: `/admin/users/${victimId}/disable`, headers: bearer(admin.access_token) })).statusCode).toBe(200)

    const records = [{ email: victim.email, disabled: false }, { email: bystander.email, disabled: false }]
    const run = await importFile(records)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('updated 1, unchanged 1')
    expect((await backend.store.findUserById(victimId))!.disabledAt).toBeNull()
    const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: victim.email, password: PASSWORD } })
    expect(login.statusCode).toBe(200)
    const enabledEvents = await backend.store.listAudit({ type: 'account_enabled', limit: 10 })
    expect(enabledEvents).toHaveLength(1)
    expect(enabledEvents[0]).toMatchObject({ userId: victimId, actorId: null, userAgent: 'latchkey-cli', details: { via: 'import' } })

    const again = await importFile(records)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('updated 0, unchanged 2')
    expect(await backend.store.listAudit({ type: 'account_enabled', limit: 10 })).toHaveLength(1)
  })
})

if (!testRedisUrl) console.warn('users import publishing disabled sessions to Redis SKIPPED: TEST_REDIS_URL is not set')

// With REDIS_URL the import publishes what it revokes, as `users disable` does, so every instance refuses those sessions at once.
describe('latchkey users import with disabled: true and REDIS_URL', () => {
  it.skipIf(!testRedisUrl)('publishes the revoked sessions to the shared Redis set', async () => {
    const dir = await tempDir('import-disable-redis')
    const prefix = uniqueRedisPrefix()
    const databaseUrl = `sqlite:${join(dir.path, 'latchkey.db')}`
    const store = await openStore(databaseUrl)
    const redis = await connectTestRedis(testRedisUrl!, prefix)
    try {
      const now = Date.now()
      const user = (await store.createUser({ id: randomUUID(), email: 'shared@example.com', passwordHash: 'x', scope: 'user', createdAt: now }))!
      const session = await store.createSession({ id: randomUUID(), userId: user.id, createdAt: now, idleExpiresAt: now + 3_600_000, absoluteExpiresAt: now + 7_200_000, userAgent: null, ip: null, tokenHash: randomUUID() })
      await writeFile(join(dir.path, 'users.ndjson'), ndjson([{ email: 'shared@example.com', disabled: true }]))
      const res = await runLatchkey(['users', 'import', '--on-conflict', 'update', join(dir.path, 'users.ndjson')], {
        env: { DATABASE_URL: databaseUrl, KEYS_DIR: join(dir.path, 'keys'), REDIS_URL: testRedisUrl!, REDIS_KEY_PREFIX: prefix },
      })
      expect(res.code, res.stderr).toBe(0)
      expect(await redis.exists(`revoked-session:${session.id}`)).toBe(1)
    } finally {
      redis.disconnect()
      await store.close()
      await deleteRedisPrefix(testRedisUrl!, prefix)
      await dir.remove()
    }
  })
})
