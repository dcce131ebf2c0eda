import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createMetrics, type Metrics } from '../../src/metrics.ts'
import { createPostgresStore } from '../../src/store/postgres.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { bearer, createTestApp, T0, type TestApp } from '../helpers/app.ts'
import { claimsOf, passwordStep, secondStep, userWithTotp } from '../helpers/mfa.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { totpAt } from '../helpers/totp.ts'

const S = 1000
const STEP = 30 * S
const WINDOW = 900 * S
const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('MFA account lock on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

/** Two stores on one database: what two instances of Latchkey would hold. */
interface TwoInstances {
  stores: [Store, Store]
  dispose(): Promise<void>
}

const backends: Array<[string, () => Promise<TwoInstances>, boolean]> = [
  ['SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-mfa-lock-'))
    const path = join(dir, 'latchkey.db')
    const first = createSqliteStore({ path })
    return { stores: [first, createSqliteStore({ path })], dispose: async () => rmSync(dir, { recursive: true, force: true }) }
  }, true],
  ['PostgreSQL', async () => {
    const pg = await freshPostgresStore(databaseUrl!)
    const second = createPostgresStore({ connectionString: databaseUrl!, schema: pg.schema, pool: { max: 10 } })
    return { stores: [pg.store, second], dispose: pg.dispose }
  }, databaseUrl !== undefined],
]

function sample(text: string, event: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`latchkey_mfa_events_total{event="${event}"}`))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe.each(backends)('wrong second-factor codes per account, across challenges (%s)', (_name, open, enabled) => {
  let instances: TwoInstances
  let a: TestApp
  let b: TestApp
  let metrics: Metrics

  beforeEach(async () => {
    if (!enabled) return
    instances = await open()
    metrics = createMetrics()
    // The login rate limit is off: this limit must hold on its own.
    // One data key for both instances, as a deployment shares it: each opens the TOTP secret the other sealed.
    const env = { RATE_LIMIT_ENABLED: 'false', DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64url') }
    a = await createTestApp({ store: instances.stores[0], env, deps: { metrics } })
    b = await createTestApp({ store: instances.stores[1], env })
    // Mid-step, one step after enrolment: the current code is unused.
    for (const t of [a, b]) t.clock.set(T0 + 15 * S)
  })
  afterEach(async () => {
    if (!enabled) return
    await a.close()
    await b.close()
    await instances.dispose()
  })

  const tick = (ms: number) => {
    for (const t of [a, b]) t.clock.advance(ms)
  }
  const wrongCode = (secret: string) => totpAt(secret, a.clock.now() + 20 * STEP)

  it.skipIf(!enabled)('after 10 wrong codes over fresh sign-ins, codes are refused unchecked on every instance until the window closes', async () => {
    const user = await userWithTotp(a)
    const userId = claimsOf(user.access_token).sub as string
    tick(STEP)
    const before = await metrics.registry.metrics()
    // 4 wrong codes per challenge stay under the challenge's own limit (5): only the account's limit can stop this.
    for (let i = 1; i <= 9; i++) {
      const t = i % 2 === 0 ? b : a
      const challenge = await passwordStep(t, user.email)
      const res = await secondStep(t, challenge, { code: wrongCode(user.secret) })
      expect(res.statusCode, `attempt ${i}`).toBe(403)
      expect(res.json().code).toBe('invalid_mfa_code')
      tick(10 * S)
    }
    const tenth = await secondStep(a, await passwordStep(a, user.email), { code: wrongCode(user.secret) })
    expect(tenth.statusCode).toBe(429)
    expect(tenth.json()).toMatchObject({ code: 'mfa_account_locked', status: 429 })
    expect(tenth.headers['retry-after']).toBe(String((WINDOW - 9 * 10 * S) / S))
    expect(tenth.headers['www-authenticate']).toBeUndefined()

    // The right code, on the other instance, in a fresh sign-in: refused, not even checked (so not spent).
    tick(60 * S)
    const right = totpAt(user.secret, b.clock.now())
    const refused = await secondStep(b, await passwordStep(b, user.email), { code: right })
    expect(refused.statusCode).toBe(429)
    expect(refused.json().code).toBe('mfa_account_locked')
    expect(refused.headers['retry-after']).toBe(String((WINDOW - 150 * S) / S))
    const recovery = await secondStep(a, await passwordStep(a, user.email), { recovery_code: user.recoveryCodes[0]! })
    expect(recovery.json().code).toBe('mfa_account_locked')

    // The window closes: the code works again, and the recovery code was never spent.
    a.clock.set(T0 + 15 * S + STEP + WINDOW)
    b.clock.set(a.clock.now())
    expect((await secondStep(b, await passwordStep(b, user.email), { code: totpAt(user.secret, b.clock.now()) })).statusCode).toBe(200)
    expect((await secondStep(a, await passwordStep(a, user.email), { recovery_code: user.recoveryCodes[0]! })).statusCode).toBe(200)

    const locked = await a.store.listAudit({ userId, type: 'mfa_account_locked', limit: 5 })
    expect(locked).toHaveLength(1)
    expect(locked[0]!.details).toEqual({ failures: 10, until: new Date(T0 + 15 * S + STEP + WINDOW).toISOString() })
    const failed = await a.store.listAudit({ userId, type: 'mfa_failed', limit: 20 })
    expect(failed.filter((e) => e.details.reason === 'account_locked')).toHaveLength(2)
    expect(failed.filter((e) => e.details.reason === 'wrong_code').map((e) => e.details.account_failures)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    // These metrics are instance a's: it checked 6 wrong codes (the 10th, which locked, among them) and refused the recovery code.
    const after = await metrics.registry.metrics()
    expect(sample(after, 'account_lockout') - sample(before, 'account_lockout')).toBe(1)
    expect(sample(after, 'account_locked_refusal') - sample(before, 'account_locked_refusal')).toBe(1)
    expect(sample(after, 'failure') - sample(before, 'failure')).toBe(6)
  })

  it.skipIf(!enabled)('a correct code starts the count again', async () => {
    const user = await userWithTotp(a)
    tick(STEP)
    const wrongTimes = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await secondStep(a, await passwordStep(a, user.email), { code: wrongCode(user.secret) })
        expect(res.json().code).toBe('invalid_mfa_code')
      }
    }
    await wrongTimes(9)
    expect((await secondStep(a, await passwordStep(a, user.email), { code: totpAt(user.secret, a.clock.now()) })).statusCode).toBe(200)
    tick(STEP)
    await wrongTimes(9)
    const tenth = await secondStep(b, await passwordStep(b, user.email), { code: wrongCode(user.secret) })
    expect(tenth.statusCode).toBe(429)
    expect(tenth.json().code).toBe('mfa_account_locked')
  })

  it.skipIf(!enabled)('step-up codes count toward the same limit, and a locked account refuses them with 429', async () => {
    const user = await userWithTotp(a)
    tick(STEP)
    const signedIn = await secondStep(a, await passwordStep(a, user.email), { code: totpAt(user.secret, a.clock.now()) })
    expect(signedIn.statusCode).toBe(200)
    const access = signedIn.json().access_token as string
    // 5 wrong at sign-in lock that challenge (403), then step-up guesses take the account to its limit.
    const challenge = await passwordStep(a, user.email)
    for (let i = 0; i < 5; i++) await secondStep(a, challenge, { code: wrongCode(user.secret) })
    expect((await secondStep(a, challenge, { code: wrongCode(user.secret) })).json().code).toBe('mfa_challenge_locked')
    const stepUp = (code: string) => b.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(access), payload: { code } })
    for (let i = 0; i < 4; i++) expect((await stepUp(wrongCode(user.secret))).json().code).toBe('invalid_mfa_code')
    const tenth = await stepUp(wrongCode(user.secret))
    expect(tenth.statusCode).toBe(429)
    expect(tenth.json().code).toBe('mfa_account_locked')
    expect(Number(tenth.headers['retry-after'])).toBeGreaterThan(0)
    tick(STEP)
    expect((await stepUp(totpAt(user.secret, b.clock.now()))).json().code).toBe('mfa_account_locked')
    const userId = claimsOf(access).sub as string
    const refusals = await a.store.listAudit({ userId, type: 'step_up_failed', limit: 10 })
    expect(refusals[0]).toMatchObject({ details: { reason: 'account_locked' } })
  })

  it.skipIf(!enabled)('parallel guesses on two instances check at most 10 codes in the window', async () => {
    const user = await userWithTotp(a)
    tick(STEP)
    // One challenge per guess: the challenges' own limit plays no part.
    const challenges = await Promise.all(Array.from({ length: 30 }, (_, i) => passwordStep(i % 2 === 0 ? a : b, user.email)))
    const answers = await Promise.all(challenges.map((c, i) => secondStep(i % 2 === 0 ? a : b, c, { code: wrongCode(user.secret) })))
    const codes = answers.map((r) => r.json().code as string)
    expect(codes.filter((c) => c === 'invalid_mfa_code')).toHaveLength(9)
    expect(codes.filter((c) => c === 'mfa_account_locked')).toHaveLength(21)
    const userId = claimsOf(user.access_token).sub as string
    const checked = await a.store.listAudit({ userId, type: 'mfa_failed', limit: 50 })
    expect(checked.filter((e) => e.details.reason === 'wrong_code')).toHaveLength(10)
    expect(await a.store.listAudit({ userId, type: 'mfa_account_locked', limit: 5 })).toHaveLength(1)
  })
})
