import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { bearer, createTestApp, DPOP_CHALLENGE, PASSWORD, registerUser, T0, type TestApp } from '../helpers/app.ts'
import { claimsOf, passwordStep, secondStep, userWithTotp } from '../helpers/mfa.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { totpAt } from '../helpers/totp.ts'

const S = 1000
const STEP = 30 * S
// Mid-step, so "the current step" is unambiguous: T0 is a multiple of 30 s.
const MID = T0 + 15 * S

/** Every second-factor flow through the HTTP API with a fixed clock, on one store kind. */
function mfaFlows(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>) {
  describe(`second factor: TOTP, recovery codes, step-up (${name})`, () => {
    let t: TestApp
    let dispose: () => Promise<void>
    // Each test moves to its own stretch of time, so the steps it uses are new to every account.
    let epoch = 0
    const freshTime = () => t.clock.set(MID + ++epoch * 3600 * S)
    beforeAll(async () => {
      const opened = await open()
      dispose = opened.dispose
      t = await createTestApp({ store: opened.store, env: { RATE_LIMIT_ENABLED: 'false' } })
    })
    afterAll(async () => {
      await t.close()
      await dispose()
    })

    it('enrols: a secret with its otpauth URI and QR code, confirmed by a code, 10 recovery codes shown once; the secret is sealed at rest', async () => {
      freshTime()
      const user = await registerUser(t)
      const begun = await t.inject({ method: 'POST', url: '/me/mfa/totp', headers: bearer(user.access_token) })
      expect(begun.statusCode).toBe(200)
      expect(begun.headers['cache-control']).toBe('no-store')
      const { secret, otpauth_uri: uri, qr_code: qr } = begun.json()
      expect(secret).toMatch(/^[A-Z2-7]{32}$/)
      expect(uri).toBe(`otpauth://totp/Latchkey:${encodeURIComponent(user.email)}?issuer=Latchkey&secret=${secret}&algorithm=SHA1&digits=6&period=30`)
      expect(qr).toMatch(/^data:image\/png;base64,/)
      expect(Buffer.from(qr.split(',')[1], 'base64').subarray(1, 4).toString()).toBe('PNG')
      const userId = claimsOf(user.access_token).sub as string
      const stored = await t.store.factors.findTotp(userId)
      expect(stored?.confirmedAt).toBeNull()
      expect(stored?.secretSealed).not.toContain(secret)

      // Until confirmed, sign-in is unchanged.
      const plain = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      expect(plain.json().access_token).toBeDefined()

      const wrong = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer(user.access_token), payload: { code: totpAt(secret, t.clock.now() + 5 * STEP) } })
      expect(wrong.statusCode).toBe(403)
      expect(wrong.json().code).toBe('invalid_mfa_code')
      expect(wrong.headers['www-authenticate']).toBeUndefined()
      const malformed = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer(user.access_token), payload: { code: '12345' } })
      expect(malformed.statusCode).toBe(400)

      const ok = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer(user.access_token), payload: { code: totpAt(secret, t.clock.now()) } })
      expect(ok.statusCode).toBe(200)
      const codes = ok.json().recovery_codes as string[]
      expect(codes).toHaveLength(10)
      expect(new Set(codes).size).toBe(10)
      for (const c of codes) expect(c).toMatch(/^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/)
      expect(await t.store.factors.countRecoveryCodes(userId)).toBe(10)

      const again = await t.inject({ method: 'POST', url: '/me/mfa/totp', headers: bearer(user.access_token) })
      expect(again.statusCode).toBe(409)
      expect(again.json().code).toBe('mfa_already_enabled')
      const reconfirm = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer(user.access_token), payload: { code: totpAt(secret, t.clock.now()) } })
      expect(reconfirm.statusCode).toBe(409)
      const none = await t.inject({ method: 'POST', url: '/me/mfa/totp/confirm', headers: bearer((await registerUser(t)).access_token), payload: { code: '123456' } })
      expect(none.statusCode).toBe(409)
      expect(none.json().code).toBe('mfa_not_enabled')
    })

    it('a password sign-in of an account with a factor answers mfa_required and no tokens; the code completes it with amr ["pwd","otp"] and acr aal2', async () => {
      freshTime()
      const user = await userWithTotp(t)
      t.clock.advance(STEP)
      const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      expect(login.statusCode).toBe(200)
      const body = login.json()
      expect(Object.keys(body).sort()).toEqual(['expires_in', 'methods', 'mfa_required', 'mfa_token'])
      expect(body).toMatchObject({ mfa_required: true, expires_in: 300, methods: ['totp', 'recovery_code'] })
      // A wrong password is still just a wrong password.
      expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'not the password at all' } })).statusCode).toBe(401)

      const done = await secondStep(t, body.mfa_token, { code: totpAt(user.secret, t.clock.now()) })
      expect(done.statusCode).toBe(200)
      const claims = claimsOf(done.json().access_token)
      expect(claims).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', auth_time: Math.floor(t.clock.now() / 1000) })

      // Single use: the same challenge never signs in twice.
      const reused = await secondStep(t, body.mfa_token, { code: totpAt(user.secret, t.clock.now() + STEP) })
      expect(reused.statusCode).toBe(400)
      expect(reused.json().code).toBe('invalid_mfa_challenge')
      const forged = await secondStep(t, `lkt_${randomBytes(32).toString('base64url')}`, { code: '000000' })
      expect(forged.json().code).toBe('invalid_mfa_challenge')

      // Refresh keeps the two-factor assurance as it was.
      t.clock.advance(3000 * S)
      const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: done.json().refresh_token } })
      expect(claimsOf(refreshed.json().access_token)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', auth_time: claims.auth_time })
    })

    it('accepts the code of the previous, current and next step, and refuses two steps away either side', async () => {
      freshTime()
      const user = await userWithTotp(t)
      for (const [offset, status] of [[-2, 403], [-1, 200], [0, 200], [1, 200], [2, 403]] as const) {
        // A new stretch of time for each case, so no step was used before.
        t.clock.advance(3600 * S)
        const challenge = await passwordStep(t, user.email)
        const res = await secondStep(t, challenge, { code: totpAt(user.secret, t.clock.now() + offset * STEP) })
        expect(res.statusCode, `offset ${offset} steps`).toBe(status)
        if (status === 403) expect(res.json().code).toBe('invalid_mfa_code')
      }
    })

    it('refuses a code already used (replay), and any code of an earlier step, even on a new challenge', async () => {
      freshTime()
      const user = await userWithTotp(t)
      t.clock.advance(10 * STEP)
      const code = totpAt(user.secret, t.clock.now())
      expect((await secondStep(t, await passwordStep(t, user.email), { code })).statusCode).toBe(200)
      const replay = await secondStep(t, await passwordStep(t, user.email), { code })
      expect(replay.statusCode).toBe(403)
      expect(replay.json()).toMatchObject({ code: 'invalid_mfa_code', detail: 'this code was already used: wait for the next one' })
      const earlier = await secondStep(t, await passwordStep(t, user.email), { code: totpAt(user.secret, t.clock.now() - STEP) })
      expect(earlier.statusCode).toBe(403)
      // The next step's code is fine.
      t.clock.advance(STEP)
      expect((await secondStep(t, await passwordStep(t, user.email), { code: totpAt(user.secret, t.clock.now()) })).statusCode).toBe(200)
    })

    it('a recovery code signs in once, typed in any case and without dashes; never again', async () => {
      freshTime()
      const user = await userWithTotp(t)
      const [first, second] = user.recoveryCodes
      const ok = await secondStep(t, await passwordStep(t, user.email), { recovery_code: first! })
      expect(ok.statusCode).toBe(200)
      expect(claimsOf(ok.json().access_token)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2' })
      const again = await secondStep(t, await passwordStep(t, user.email), { recovery_code: first! })
      expect(again.statusCode).toBe(403)
      expect(again.json().code).toBe('invalid_mfa_code')
      const typed = second!.toUpperCase().replace(/-/g, ' ')
      expect((await secondStep(t, await passwordStep(t, user.email), { recovery_code: typed })).statusCode).toBe(200)
      expect(await t.store.factors.countRecoveryCodes(claimsOf(user.access_token).sub as string)).toBe(8)
      const both = await t.inject({ method: 'POST', url: '/auth/login/mfa', payload: { challenge: 'x', code: '123456', recovery_code: first } })
      expect(both.statusCode).toBe(400)
      expect(both.json().code).toBe('validation_failed')
    })

    it('locks the challenge after MFA_MAX_ATTEMPTS wrong codes, even for the right code then; each failure and the lock are audited', async () => {
      freshTime()
      const user = await userWithTotp(t)
      const userId = claimsOf(user.access_token).sub as string
      t.clock.advance(STEP)
      const challenge = await passwordStep(t, user.email)
      const wrong = totpAt(user.secret, t.clock.now() + 10 * STEP)
      for (let i = 1; i <= 4; i++) {
        const res = await secondStep(t, challenge, { code: wrong })
        expect(res.statusCode).toBe(403)
        expect(res.json().code).toBe('invalid_mfa_code')
      }
      const fifth = await secondStep(t, challenge, { code: wrong })
      expect(fifth.statusCode).toBe(403)
      expect(fifth.json().code).toBe('mfa_challenge_locked')
      expect(fifth.headers['www-authenticate']).toBeUndefined()
      const right = await secondStep(t, challenge, { code: totpAt(user.secret, t.clock.now()) })
      expect(right.json().code).toBe('mfa_challenge_locked')

      const failed = await t.store.listAudit({ userId, type: 'mfa_failed', limit: 20 })
      expect(failed.map((e) => e.details.failures)).toEqual([5, 4, 3, 2, 1])
      expect(failed.every((e) => e.details.reason === 'wrong_code')).toBe(true)
      expect(await t.store.listAudit({ userId, type: 'mfa_challenge_locked', limit: 5 })).toHaveLength(1)
      // A new sign-in gets a new challenge and the right code works.
      expect((await secondStep(t, await passwordStep(t, user.email), { code: totpAt(user.secret, t.clock.now()) })).statusCode).toBe(200)
    })

    it('a challenge expires after MFA_CHALLENGE_TTL', async () => {
      freshTime()
      const user = await userWithTotp(t)
      const challenge = await passwordStep(t, user.email)
      t.clock.advance(301 * S)
      const late = await secondStep(t, challenge, { code: totpAt(user.secret, t.clock.now()) })
      expect(late.statusCode).toBe(400)
      expect(late.json()).toMatchObject({ code: 'invalid_mfa_challenge', detail: 'this MFA challenge has expired: sign in again' })
    })

    it('removing the factor needs a recent two-factor sign-in (RFC 9470 challenge); step-up with a code gives one, and ends the old session', async () => {
      freshTime()
      const user = await userWithTotp(t)
      t.clock.advance(STEP)
      const signedIn = await secondStep(t, await passwordStep(t, user.email), { code: totpAt(user.secret, t.clock.now()) })
      // The password-only tokens of the enrolment session are aal1: refused with acr_values.
      const weak = await t.inject({ method: 'DELETE', url: '/me/mfa/totp', headers: bearer(user.access_token) })
      expect(weak.statusCode).toBe(401)
      expect(weak.headers['www-authenticate']).toBe(
        `Bearer realm="latchkey", error="insufficient_user_authentication", error_description="this action requires a sign-in at level aal2: authenticate again with a second factor", acr_values="aal2", max_age=300, ${DPOP_CHALLENGE}`,
      )
      // Ten minutes later the aal2 sign-in is too old.
      t.clock.advance(600 * S)
      const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: signedIn.json().refresh_token } })
      const stale = refreshed.json().access_token as string
      const old = await t.inject({ method: 'DELETE', url: '/me/mfa/totp', headers: bearer(stale) })
      expect(old.statusCode).toBe(401)
      expect(old.headers['www-authenticate']).toBe(
        `Bearer realm="latchkey", error="insufficient_user_authentication", error_description="this action requires a sign-in within the last 300 seconds: authenticate again", acr_values="aal2", max_age=300, ${DPOP_CHALLENGE}`,
      )

      const noCode = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(stale), payload: { password: PASSWORD } })
      expect(noCode.statusCode).toBe(400)
      const badCode = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(stale), payload: { code: totpAt(user.secret, t.clock.now() + 9 * STEP) } })
      expect(badCode.statusCode).toBe(403)
      expect(badCode.json().code).toBe('invalid_mfa_code')
      expect(badCode.headers['www-authenticate']).toBeUndefined()
      const stepped = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(stale), payload: { code: totpAt(user.secret, t.clock.now()) } })
      expect(stepped.statusCode).toBe(200)
      const fresh = stepped.json().access_token as string
      expect(claimsOf(fresh)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', auth_time: Math.floor(t.clock.now() / 1000) })
      expect(claimsOf(fresh).sid).not.toBe(claimsOf(stale).sid)
      const oldSession = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshed.json().refresh_token } })
      expect(oldSession.json().code).toBe('session_revoked')

      expect((await t.inject({ method: 'DELETE', url: '/me/mfa/totp', headers: bearer(fresh) })).statusCode).toBe(204)
      const twice = await t.inject({ method: 'DELETE', url: '/me/mfa/totp', headers: bearer(fresh) })
      expect(twice.statusCode).toBe(409)
      expect(twice.json().code).toBe('mfa_not_enabled')
      const plain = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      expect(plain.json().access_token).toBeDefined()
      const userId = claimsOf(fresh).sub as string
      expect(await t.store.factors.findTotp(userId)).toBeNull()
      expect(await t.store.listAudit({ userId, type: 'mfa_disabled', limit: 5 })).toHaveLength(1)
    })

    it('step-up without a factor takes the password: a fresh auth_time at aal1; a wrong password is 403 without a challenge', async () => {
      freshTime()
      const user = await registerUser(t)
      t.clock.advance(900 * S)
      const refreshed = (await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.refresh_token } })).json()
      const wrong = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(refreshed.access_token), payload: { password: 'not the password at all' } })
      expect(wrong.statusCode).toBe(403)
      expect(wrong.json().code).toBe('invalid_current_password')
      expect(wrong.headers['www-authenticate']).toBeUndefined()
      const code = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(refreshed.access_token), payload: { code: '123456' } })
      expect(code.json().code).toBe('mfa_not_enabled')
      const ok = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(refreshed.access_token), payload: { password: PASSWORD } })
      expect(ok.statusCode).toBe(200)
      expect(claimsOf(ok.json().access_token)).toMatchObject({ amr: ['pwd'], acr: 'aal1', auth_time: Math.floor(t.clock.now() / 1000) })
      // …which is what PUT /me/password wanted.
      const change = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(ok.json().access_token), payload: { current_password: PASSWORD, new_password: 'another long passphrase here' } })
      expect(change.statusCode).toBe(204)
      const anonymous = await t.inject({ method: 'POST', url: '/auth/step-up', payload: { password: PASSWORD } })
      expect(anonymous.statusCode).toBe(401)
    })
  })
}

mfaFlows('sqlite', async () => ({ store: createSqliteStore({ path: ':memory:' }), dispose: async () => undefined }))

const databaseUrl = process.env.TEST_DATABASE_URL
if (databaseUrl) {
  mfaFlows('postgres', () => freshPostgresStore(databaseUrl))
} else {
  describe.skip('second factor (postgres: set TEST_DATABASE_URL to run)', () => {
    it('runs every second-factor flow on PostgreSQL', () => {})
  })
}
