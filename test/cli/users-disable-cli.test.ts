import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createAdmin, DPOP_CHALLENGE, loginAs, registerUser, type TestApp } from '../helpers/app.ts'
import { cliBackends, startCliTestApp, stopCliTestApp, type CliBackend, type CliTestApp } from '../helpers/cli-backends.ts'
import { runLatchkey } from '../helpers/cli.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('latchkey users disable on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

const backends = cliBackends(databaseUrl)

// The CLI ends an account's sessions through the same code as POST /admin/users/{id}/disable and
// `users import` (src/accounts/disabled-account.ts): same revocations, same audit trail.
describe.each(backends)('latchkey users disable (%s)', (_name, open, enabled) => {
  let backend: CliBackend
  let t: TestApp
  let h: CliTestApp
  const disable = (email: string) => runLatchkey(['users', 'disable', '--email', email], { env: h.env })

  beforeEach(async () => {
    if (!enabled) return
    h = await startCliTestApp(open, 'users-disable')
    ;({ backend, t } = h)
  })
  afterEach(async () => {
    if (enabled) await stopCliTestApp(h)
  })

  it.skipIf(!enabled)('revokes both live sessions, audits each and one account_disabled via cli; refresh answers 403 account_disabled', async () => {
    const victim = await registerUser(t)
    const phone = await loginAs(t, victim.email, 'phone')
    const bystander = await registerUser(t)
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id
    expect(await backend.store.listActiveSessions(victimId, t.clock.now())).toHaveLength(2)

    const res = await disable(victim.email.toUpperCase())
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toBe(`${victim.email} disabled; revoked 2 session(s)\n`)

    expect(await backend.store.listActiveSessions(victimId, t.clock.now())).toEqual([])
    const revoked = await backend.store.listAudit({ userId: victimId, type: 'session_revoked', limit: 10 })
    expect(revoked).toHaveLength(2)
    for (const e of revoked) expect(e).toMatchObject({ actorId: null, userAgent: 'latchkey-cli', details: { reason: 'account_disabled' } })
    const disabled = await backend.store.listAudit({ userId: victimId, type: 'account_disabled', limit: 10 })
    expect(disabled).toHaveLength(1)
    expect(disabled[0]).toMatchObject({ actorId: null, userAgent: 'latchkey-cli' })
    expect(disabled[0]!.details).toEqual({ via: 'cli', revoked_sessions: 2 })

    for (const token of [victim.access_token, phone.access_token]) {
      const checked = await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(token) })
      expect(checked.statusCode).toBe(401)
      expect(checked.json().code).toBe('session_revoked')
      expect(checked.headers['www-authenticate']).toBe(`Bearer realm="latchkey", error="invalid_token", error_description="this session has been revoked", ${DPOP_CHALLENGE}`)
    }
    for (const refreshToken of [victim.refresh_token, phone.refresh_token]) {
      const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } })
      expect(refresh.statusCode).toBe(403)
      expect(refresh.json().code).toBe('account_disabled')
    }
    expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(bystander.access_token) })).statusCode).toBe(200)
    const bystanderId = (await backend.store.findUserByEmail(bystander.email))!.id
    expect(await backend.store.listAudit({ userId: bystanderId, type: 'session_revoked', limit: 10 })).toEqual([])
  })

  it.skipIf(!enabled)('disabling again writes no second account_disabled event, yet ends a session that appeared since', async () => {
    const victim = await registerUser(t)
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id
    expect((await disable(victim.email)).code).toBe(0)
    const disabledAt = (await backend.store.findUserById(victimId))!.disabledAt
    expect(disabledAt).not.toBeNull()

    const again = await disable(victim.email)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toBe(`${victim.email} was already disabled; revoked 0 session(s)\n`)

    // As if a sign-in had raced with the disable: a live session of the disabled account.
    const late = randomUUID()
    await backend.store.createSession({ id: late, userId: victimId, createdAt: t.clock.now(), idleExpiresAt: t.clock.now() + 3_600_000, absoluteExpiresAt: t.clock.now() + 3_600_000, userAgent: null, ip: null, tokenHash: randomUUID() })
    const third = await disable(victim.email)
    expect(third.code, third.stderr).toBe(0)
    expect(third.stdout).toBe(`${victim.email} was already disabled; revoked 1 session(s)\n`)
    expect((await backend.store.findSession(late))?.revokedAt).not.toBeNull()

    expect((await backend.store.findUserById(victimId))!.disabledAt).toBe(disabledAt)
    expect(await backend.store.listAudit({ userId: victimId, type: 'account_disabled', limit: 10 })).toHaveLength(1)
    const revoked = await backend.store.listAudit({ userId: victimId, type: 'session_revoked', limit: 10 })
    expect(revoked.map((e) => e.sessionId)).toContain(late)
    expect(revoked).toHaveLength(2)
    const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: victim.refresh_token } })
    expect(refresh.statusCode).toBe(403)
    expect(refresh.json().code).toBe('account_disabled')
  })

  it.skipIf(!enabled)('racing disables (10 admin requests and 2 CLI runs) audit account_disabled once and keep its time; racing enables audit once', async () => {
    const admin = await createAdmin(t)
    const victim = await registerUser(t)
    await loginAs(t, victim.email, 'phone')
    const victimId = (await backend.store.findUserByEmail(victim.email))!.id
    const post = (action: 'disable' | 'enable') => t.inject({ method: 'POST', url: `/admin/users/${victimId}/${action}`, headers: bearer(admin.access_token) })

    const [responses, runs] = await Promise.all([Promise.all(Array.from({ length: 10 }, () => post('disable'))), Promise.all([disable(victim.email), disable(victim.email)])])
    for (const run of runs) expect(run.code, run.stderr).toBe(0)
    const disabledAt = (await backend.store.findUserById(victimId))!.disabledAt
    expect(disabledAt).not.toBeNull()
    for (const res of responses) {
      expect(res.statusCode).toBe(200)
      // Every loser answers with the winner's time: none overwrote it.
      expect(res.json().disabled_at).toBe(new Date(disabledAt!).toISOString())
    }
    const disabled = await backend.store.listAudit({ userId: victimId, type: 'account_disabled', limit: 20 })
    expect(disabled).toHaveLength(1)
    expect(disabled[0]!.details).toMatchObject({ revoked_sessions: 2 })
    // Every call revokes; each session is revoked (and audited) once.
    expect(await backend.store.listAudit({ userId: victimId, type: 'session_revoked', limit: 20 })).toHaveLength(2)

    const enables = await Promise.all(Array.from({ length: 10 }, () => post('enable')))
    for (const res of enables) expect(res.json().disabled_at).toBeNull()
    const enabled = await backend.store.listAudit({ userId: victimId, type: 'account_enabled', limit: 20 })
    expect(enabled).toHaveLength(1)
    expect(enabled[0]!.actorId).toBe(admin.user.id)
  })
})
