import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics, type Metrics } from '../../src/metrics.ts'
import { openStore } from '../../src/store/open-store.ts'
import { bearer, createAdmin, createTestApp, PASSWORD, T0, type TestApp } from '../helpers/app.ts'
import { runLatchkey } from '../helpers/cli.ts'
import { tempDir } from '../helpers/key-dir.ts'
import { claimsOf, passwordStep, secondStep, userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('admin reset of a second factor, and MFA metrics', () => {
  let t: TestApp
  let metrics: Metrics
  beforeAll(async () => {
    metrics = createMetrics()
    t = await createTestApp({ deps: { metrics }, env: { RATE_LIMIT_ENABLED: 'false' } })
    t.clock.set(T0 + 15_000)
  })
  afterAll(() => t.close())

  it('an admin removes a user\'s factor (audited with the admin as actor); the user signs in with the password alone', async () => {
    const user = await userWithTotp(t)
    const userId = claimsOf(user.access_token).sub as string
    const admin = await createAdmin(t)
    const url = `/admin/users/${userId}/mfa/reset`
    const notAdmin = await t.inject({ method: 'POST', url, headers: bearer(user.access_token) })
    expect(notAdmin.statusCode).toBe(403)
    expect(notAdmin.json().code).toBe('insufficient_scope')
    const reset = await t.inject({ method: 'POST', url, headers: bearer(admin.access_token) })
    expect(reset.statusCode).toBe(200)
    expect(reset.json()).toEqual({ user_id: userId, had_factor: true })
    expect((await t.inject({ method: 'POST', url, headers: bearer(admin.access_token) })).json().had_factor).toBe(false)
    const [event] = await t.store.listAudit({ userId, type: 'mfa_reset', limit: 5 })
    expect(event).toMatchObject({ actorId: admin.user.id, details: { had_factor: false } })
    expect(await t.store.listAudit({ userId, type: 'mfa_reset', limit: 5 })).toHaveLength(2)
    const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
    expect(login.json().access_token).toBeDefined()
    expect((await t.inject({ method: 'POST', url: '/admin/users/00000000-0000-4000-8000-000000000000/mfa/reset', headers: bearer(admin.access_token) })).statusCode).toBe(404)
    expect((await t.inject({ method: 'POST', url: '/admin/users/nope/mfa/reset', headers: bearer(admin.access_token) })).statusCode).toBe(400)
  })

  it('counts challenges, successes, failures and lockouts', async () => {
    const before = await metrics.registry.metrics()
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const locked = await passwordStep(t, user.email)
    for (let i = 0; i < 5; i++) await secondStep(t, locked, { code: totpAt(user.secret, t.clock.now() + 20 * 30_000) })
    expect((await secondStep(t, await passwordStep(t, user.email), { code: totpAt(user.secret, t.clock.now()) })).statusCode).toBe(200)
    const after = await metrics.registry.metrics()
    const delta = (event: string) => sample(after, `latchkey_mfa_events_total{event="${event}"}`) - sample(before, `latchkey_mfa_events_total{event="${event}"}`)
    expect(delta('challenge')).toBe(2)
    expect(delta('failure')).toBe(5)
    expect(delta('lockout')).toBe(1)
    expect(delta('success')).toBe(1)
  })
})

describe('latchkey users mfa-reset', () => {
  it('removes the factor of the account, audits it, and says so; an unknown email exits 1', async () => {
    const dir = await tempDir('cli-mfa')
    const env = { KEYS_DIR: join(dir.path, 'keys'), DATABASE_URL: `sqlite:${join(dir.path, 'data', 'latchkey.db')}`, ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1' }
    try {
      expect((await runLatchkey(['users', 'create', '--email', 'lost@example.com'], { env, stdin: `${PASSWORD}\n` })).code).toBe(0)
      const store = await openStore(env.DATABASE_URL)
      try {
        const user = (await store.findUserByEmail('lost@example.com'))!
        await store.factors.beginTotp(user.id, 'sealed', T0)
        await store.factors.confirmTotp(user.id, 1, ['h'], T0)
      } finally {
        await store.close()
      }
      const res = await runLatchkey(['users', 'mfa-reset', '--email', 'LOST@example.com'], { env })
      expect(res.code, res.stderr).toBe(0)
      expect(res.stdout).toBe('lost@example.com: second factor removed; the next sign-in needs the password only\n')
      const again = await runLatchkey(['users', 'mfa-reset', '--email', 'lost@example.com'], { env })
      expect(again.stdout).toBe('lost@example.com had no second factor\n')
      const unknown = await runLatchkey(['users', 'mfa-reset', '--email', 'nobody@example.com'], { env })
      expect(unknown.code).toBe(1)
      const check = await openStore(env.DATABASE_URL)
      try {
        const user = (await check.findUserByEmail('lost@example.com'))!
        expect(await check.factors.findTotp(user.id)).toBeNull()
        expect((await check.listAudit({ userId: user.id, type: 'mfa_reset', limit: 5 })).map((e) => e.details)).toEqual([
          { via: 'cli', had_factor: false },
          { via: 'cli', had_factor: true },
        ])
      } finally {
        await check.close()
      }
    } finally {
      await dir.remove()
    }
  })
})
