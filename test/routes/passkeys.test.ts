import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics.ts'
import { CHALLENGE_TTL_MS } from '../../src/passkeys/passkey-service.ts'
import { CHALLENGE_RETENTION_MS, purgeOnce } from '../../src/retention-job.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { bearer, createTestApp, PASSWORD, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { passwordStep, userWithTotp } from '../helpers/mfa.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { createSoftwarePasskey, type SoftwarePasskey } from '../helpers/webauthn.ts'

const PUBLIC_URL = 'https://auth.example.com'
const SPA = 'https://app.example.com'
const RP_ID = 'example.com'
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

/** Every passkey ceremony and refusal over HTTP, on one store kind. */
function passkeyRoutes(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>) {
  describe(`passkeys (${name})`, () => {
    let t: TestApp
    let dispose: () => Promise<void>
    const metrics = createMetrics()
    beforeAll(async () => {
      const opened = await open()
      dispose = opened.dispose
      t = await createTestApp({
        store: opened.store,
        // Every request comes from one IP: the per-IP limits would stop the suite, not an attacker.
        env: { PUBLIC_URL, CORS_ORIGINS: SPA, WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: `${SPA},${PUBLIC_URL}`, RATE_LIMIT_REGISTER_PER_IP: '10000', RATE_LIMIT_LOGIN_PER_IP: '10000' },
        deps: { metrics },
      })
    })
    afterAll(async () => {
      await t.close()
      await dispose()
    })

    const post = (url: string, payload: unknown, token?: string) => t.inject({ method: 'POST', url, payload: payload as object, headers: token ? bearer(token) : {} })
    const ceremony = { origin: SPA, rpId: RP_ID }

    async function registrationOptions(token: string) {
      const res = await post('/me/passkeys/register/options', {}, token)
      expect(res.statusCode).toBe(200)
      return res.json() as { challenge: string; user: { id: string }; rp: { id: string }; excludeCredentials: Array<{ id: string }> }
    }

    /** A user with one registered software passkey. */
    async function userWithPasskey() {
      const user = await registerUser(t)
      const passkey = createSoftwarePasskey()
      const options = await registrationOptions(user.access_token)
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      const res = await post('/me/passkeys/register/verify', { response: passkey.register({ ...ceremony, challenge: options.challenge, userId }), name: 'Laptop' }, user.access_token)
      expect(res.statusCode).toBe(201)
      return { user, passkey, userId, id: res.json().id as string }
    }

    async function loginChallenge(email?: string): Promise<{ challenge: string; allowCredentials: Array<{ id: string; transports: string[] }> }> {
      const res = await post('/auth/passkeys/login/options', email === undefined ? {} : { email })
      expect(res.statusCode).toBe(200)
      return res.json()
    }

    async function signIn(passkey: SoftwarePasskey, over: Partial<Parameters<SoftwarePasskey['assert']>[0]> = {}) {
      const { challenge } = await loginChallenge()
      return post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge, ...over }) })
    }

    const expectProblem = (res: { statusCode: number; json(): unknown }, status: number, code: string) => {
      expect({ status: res.statusCode, code: (res.json() as { code: string }).code }).toEqual({ status, code })
    }

    it('registers a passkey and signs in with it, discoverable and email-first, multi-factor when the user was verified', async () => {
      const { user, passkey, userId, id } = await userWithPasskey()
      const discoverable = await signIn(passkey)
      expect(discoverable.statusCode).toBe(200)
      const claims = claimsOf(discoverable.json().access_token)
      expect(claims).toMatchObject({ sub: userId, amr: ['hwk', 'user', 'mfa'], acr: 'aal2', auth_time: Math.floor(t.clock.now() / 1000) })
      expect(discoverable.json()).toMatchObject({ token_type: 'Bearer', scope: 'user' })
      expect((await t.inject({ method: 'GET', url: '/me', headers: bearer(discoverable.json().access_token) })).json().email).toBe(user.email)

      const options = await loginChallenge(user.email)
      expect(options.allowCredentials).toEqual([{ id: passkey.credentialId, transports: ['internal', 'hybrid'], type: 'public-key' }])
      const emailFirst = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: options.challenge }) })
      expect(emailFirst.statusCode).toBe(200)

      const list = await t.inject({ method: 'GET', url: '/me/passkeys', headers: bearer(user.access_token) })
      expect(list.json().passkeys).toEqual([
        expect.objectContaining({ id, name: 'Laptop', transports: ['internal', 'hybrid'], backed_up: false, device_type: 'single_device', last_used_at: expect.any(String), counter_regressed_at: null }),
      ])
      const succeeded = await t.store.listAudit({ userId, type: 'login_succeeded', limit: 10 })
      expect(succeeded.map((e) => e.details)).toEqual([
        { amr: 'hwk user mfa', acr: 'aal2' },
        { amr: 'hwk user mfa', acr: 'aal2' },
      ])
      expect(await t.store.listAudit({ userId, type: 'passkey_registered', limit: 10 })).toHaveLength(1)
    })

    it('signs in single-factor without user verification, and as swk for a synced passkey', async () => {
      const { passkey } = await userWithPasskey()
      const unverified = await signIn(passkey, { userVerified: false })
      expect(claimsOf(unverified.json().access_token)).toMatchObject({ amr: ['hwk'], acr: 'aal1' })

      const user = await registerUser(t)
      const synced = createSoftwarePasskey()
      const options = await registrationOptions(user.access_token)
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      const created = await post('/me/passkeys/register/verify', { response: synced.register({ ...ceremony, challenge: options.challenge, userId, backedUp: true }) }, user.access_token)
      expect(created.json()).toMatchObject({ backed_up: true, device_type: 'multi_device' })
      const res = await signIn(synced, { backedUp: true })
      expect(claimsOf(res.json().access_token)).toMatchObject({ amr: ['swk', 'user', 'mfa'], acr: 'aal2' })
    })

    it('wants a recent sign-in to add or delete a passkey, and a passkey sign-in is one (step-up)', async () => {
      const { user, passkey, id } = await userWithPasskey()
      t.clock.advance((t.config.assurance.stepUpMaxAge + 1) * 1000)
      try {
        const stale = await t.inject({ method: 'DELETE', url: `/me/passkeys/${id}`, headers: bearer(user.access_token) })
        expectProblem(stale, 401, 'insufficient_user_authentication')
        expect(stale.headers['www-authenticate']).toContain(`max_age=${t.config.assurance.stepUpMaxAge}`)
        expectProblem(await post('/me/passkeys/register/options', {}, user.access_token), 401, 'insufficient_user_authentication')
        // Listing and renaming are not sensitive.
        expect((await t.inject({ method: 'GET', url: '/me/passkeys', headers: bearer(user.access_token) })).statusCode).toBe(200)

        const fresh = await signIn(passkey)
        expect(fresh.statusCode).toBe(200)
        expect((await t.inject({ method: 'DELETE', url: `/me/passkeys/${id}`, headers: bearer(fresh.json().access_token) })).statusCode).toBe(204)
      } finally {
        t.clock.advance(-(t.config.assurance.stepUpMaxAge + 1) * 1000)
      }
    })

    it('refuses a disabled account, as a password sign-in does', async () => {
      const { passkey, userId } = await userWithPasskey()
      await t.store.setUserDisabled(userId, t.clock.now())
      try {
        expectProblem(await signIn(passkey), 403, 'account_disabled')
      } finally {
        await t.store.setUserDisabled(userId, null)
      }
    })

    it('completes a password sign-in that asks for a second factor, with a passkey of that account only', async () => {
      const user = await userWithTotp(t)
      const userId = (await t.store.findUserByEmail(user.email))!.id
      const passkey = createSoftwarePasskey()
      const options = await registrationOptions(user.access_token)
      expect((await post('/me/passkeys/register/verify', { response: passkey.register({ ...ceremony, challenge: options.challenge, userId }) }, user.access_token)).statusCode).toBe(201)

      const login = await post('/auth/login', { email: user.email, password: PASSWORD })
      expect(login.json()).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code', 'passkey'] })
      const mfaToken = login.json().mfa_token as string
      const second = await post('/auth/passkeys/login/options', { mfa_token: mfaToken })
      expect(second.json().allowCredentials.map((c: { id: string }) => c.id)).toEqual([passkey.credentialId])

      // Another account's passkey does not complete it, and counts as a failed attempt.
      const stranger = await userWithPasskey()
      expectProblem(await post('/auth/passkeys/login/verify', { response: stranger.passkey.assert({ ...ceremony, challenge: second.json().challenge }), mfa_token: mfaToken }), 401, 'passkey_unknown_credential')
      expect((await t.store.listAudit({ userId, type: 'mfa_failed', limit: 10 })).map((e) => e.details.reason)).toEqual(['passkey_unknown_credential'])

      const { challenge } = (await post('/auth/passkeys/login/options', { mfa_token: mfaToken })).json()
      const done = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), mfa_token: mfaToken })
      expect(done.statusCode).toBe(200)
      expect(claimsOf(done.json().access_token)).toMatchObject({ sub: userId, amr: ['pwd', 'hwk', 'user', 'mfa'], acr: 'aal2' })
      // The challenge is spent: neither a passkey nor a code completes it again.
      const again = (await post('/auth/passkeys/login/options', { mfa_token: mfaToken }))
      expectProblem(again, 400, 'invalid_mfa_challenge')
      expectProblem(await post('/auth/passkeys/login/options', { mfa_token: 'lkt_not-a-real-token' }), 400, 'invalid_mfa_challenge')
      // An account without passkeys is not offered one.
      const totpOnly = await userWithTotp(t)
      expect((await post('/auth/login', { email: totpOnly.email, password: PASSWORD })).json().methods).toEqual(['totp', 'recovery_code'])
      expect(await passwordStep(t, user.email)).toMatch(/^lkt_/)
    })

    it('excludes already registered passkeys and refuses registering one twice', async () => {
      const { user, passkey, userId } = await userWithPasskey()
      const options = await registrationOptions(user.access_token)
      expect(options.excludeCredentials.map((c) => c.id)).toEqual([passkey.credentialId])
      const again = await post('/me/passkeys/register/verify', { response: passkey.register({ ...ceremony, challenge: options.challenge, userId }) }, user.access_token)
      expectProblem(again, 409, 'passkey_already_registered')
    })

    it('renames and deletes a passkey; a deleted one no longer signs in; another user sees 404', async () => {
      const { user, passkey, id } = await userWithPasskey()
      const stranger = await registerUser(t)
      expectProblem(await t.inject({ method: 'PATCH', url: `/me/passkeys/${id}`, payload: { name: 'x' }, headers: bearer(stranger.access_token) }), 404, 'not_found')
      expectProblem(await t.inject({ method: 'DELETE', url: `/me/passkeys/${id}`, headers: bearer(stranger.access_token) }), 404, 'not_found')
      const renamed = await t.inject({ method: 'PATCH', url: `/me/passkeys/${id}`, payload: { name: '  Work laptop ' }, headers: bearer(user.access_token) })
      expect(renamed.json()).toMatchObject({ id, name: 'Work laptop' })
      expectProblem(await t.inject({ method: 'PATCH', url: `/me/passkeys/${id}`, payload: { name: '' }, headers: bearer(user.access_token) }), 400, 'validation_failed')
      expect((await t.inject({ method: 'DELETE', url: `/me/passkeys/${id}`, headers: bearer(user.access_token) })).statusCode).toBe(204)
      expect((await t.inject({ method: 'GET', url: '/me/passkeys', headers: bearer(user.access_token) })).json()).toEqual({ passkeys: [] })
      expectProblem(await signIn(passkey), 401, 'passkey_unknown_credential')
      expectProblem(await t.inject({ method: 'DELETE', url: '/me/passkeys/not-a-uuid', headers: bearer(user.access_token) }), 400, 'validation_failed')
    })

    it('refuses an origin that is not allowed, at registration and at sign-in', async () => {
      const user = await registerUser(t)
      const passkey = createSoftwarePasskey()
      const options = await registrationOptions(user.access_token)
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      const evil = { ...ceremony, origin: 'https://app.example.com.evil.test' }
      expectProblem(await post('/me/passkeys/register/verify', { response: passkey.register({ ...evil, challenge: options.challenge, userId }) }, user.access_token), 400, 'passkey_origin_mismatch')

      const registered = await userWithPasskey()
      expectProblem(await signIn(registered.passkey, { origin: 'http://app.example.com' }), 400, 'passkey_origin_mismatch')
    })

    it('refuses a credential scoped to another relying party id', async () => {
      const user = await registerUser(t)
      const options = await registrationOptions(user.access_token)
      const userId = Buffer.from(options.user.id, 'base64url').toString()
      const res = await post('/me/passkeys/register/verify', { response: createSoftwarePasskey().register({ ...ceremony, rpId: 'evil.test', challenge: options.challenge, userId }) }, user.access_token)
      expectProblem(res, 400, 'passkey_rp_id_mismatch')

      const registered = await userWithPasskey()
      expectProblem(await signIn(registered.passkey, { rpId: 'auth.example.com' }), 400, 'passkey_rp_id_mismatch')
    })

    it('refuses a replayed challenge, and a challenge that was never issued', async () => {
      const { passkey } = await userWithPasskey()
      const { challenge } = await loginChallenge()
      const response = passkey.assert({ ...ceremony, challenge })
      expect((await post('/auth/passkeys/login/verify', { response })).statusCode).toBe(200)
      expectProblem(await post('/auth/passkeys/login/verify', { response }), 400, 'passkey_challenge_used')
      expectProblem(await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: Buffer.alloc(32, 1).toString('base64url') }) }), 400, 'passkey_challenge_unknown')
    })

    it('refuses an expired challenge (5 minutes on the fixed clock) and a registration challenge used to sign in', async () => {
      const { user, passkey } = await userWithPasskey()
      const { challenge } = await loginChallenge()
      t.clock.advance(5 * 60_000)
      try {
        expectProblem(await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }) }), 400, 'passkey_challenge_expired')
      } finally {
        t.clock.advance(-5 * 60_000)
      }
      const registration = await registrationOptions(user.access_token)
      expectProblem(await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: registration.challenge }) }), 400, 'passkey_challenge_unknown')
    })

    it('keeps an expired challenge until the retention purge a day later: a late answer hears expired, not unknown', async () => {
      const { passkey } = await userWithPasskey()
      const { challenge } = await loginChallenge()
      const answer = () => post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }) })
      const purge = () => purgeOnce({ store: t.store, clock: t.clock, policy: { sessionRetentionDays: 30, batchSize: 1000 } })
      let advanced = 0
      const advance = (ms: number) => {
        t.clock.advance(ms)
        advanced += ms
      }
      try {
        advance(CHALLENGE_TTL_MS + 1000)
        // More ceremonies meanwhile (a busy instance) and a purge: neither deletes a challenge that expired a second ago.
        for (let i = 0; i < 101; i++) await loginChallenge()
        await purge()
        expectProblem(await answer(), 400, 'passkey_challenge_expired')
        advance(CHALLENGE_RETENTION_MS)
        expect((await purge()).counts.webauthn_challenges).toBeGreaterThanOrEqual(1)
        expectProblem(await answer(), 400, 'passkey_challenge_unknown')
      } finally {
        t.clock.advance(-advanced)
      }
    })

    it("refuses a registration challenge issued to another account", async () => {
      const victim = await registerUser(t)
      const attacker = await registerUser(t)
      const options = await registrationOptions(victim.access_token)
      const response = createSoftwarePasskey().register({ ...ceremony, challenge: options.challenge, userId: 'x' })
      expectProblem(await post('/me/passkeys/register/verify', { response }, attacker.access_token), 400, 'passkey_challenge_unknown')
    })

    it('refuses an unknown credential, and one that belongs to another account than the email-first options named', async () => {
      const unknown = createSoftwarePasskey()
      expectProblem(await signIn(unknown), 401, 'passkey_unknown_credential')
      const alice = await userWithPasskey()
      const bob = await userWithPasskey()
      const { challenge } = await loginChallenge(alice.user.email)
      expectProblem(await post('/auth/passkeys/login/verify', { response: bob.passkey.assert({ ...ceremony, challenge }) }), 401, 'passkey_unknown_credential')
      expect((await t.store.listAudit({ type: 'passkey_login_failed', limit: 100 })).some((e) => e.details.reason === 'unknown_credential')).toBe(true)
    })

    it('refuses a bad signature', async () => {
      const { passkey } = await userWithPasskey()
      const { challenge } = await loginChallenge()
      const response = passkey.assert({ ...ceremony, challenge })
      const signature = Buffer.from(response.response.signature, 'base64url')
      signature[signature.length - 1] = signature[signature.length - 1]! ^ 1
      const res = await post('/auth/passkeys/login/verify', { response: { ...response, response: { ...response.response, signature: signature.toString('base64url') } } })
      expectProblem(res, 401, 'passkey_verification_failed')
    })

    it('flags, audits and refuses a signature counter that went backwards', async () => {
      const { user, passkey, userId, id } = await userWithPasskey()
      expect((await signIn(passkey, { counter: 10 })).statusCode).toBe(200)
      expectProblem(await signIn(passkey, { counter: 10 }), 401, 'passkey_counter_regression')
      expectProblem(await signIn(passkey, { counter: 3 }), 401, 'passkey_counter_regression')
      const [listed] = (await t.inject({ method: 'GET', url: '/me/passkeys', headers: bearer(user.access_token) })).json().passkeys
      expect(listed).toMatchObject({ id, counter_regressed_at: expect.any(String) })
      const events = await t.store.listAudit({ userId, type: 'passkey_counter_regression', limit: 10 })
      expect(events.map((e) => e.details)).toEqual([
        { passkey_id: id, stored: 10, presented: 3 },
        { passkey_id: id, stored: 10, presented: 10 },
      ])
      // A higher counter from the real authenticator still works: the flag is for the user and the admins to judge.
      expect((await signIn(passkey, { counter: 11 })).statusCode).toBe(200)
    })

    it('answers email-first options for unknown addresses with stable decoys shaped like real credentials', async () => {
      const email = uniqueEmail()
      const first = await loginChallenge(email)
      const second = await loginChallenge(email.toUpperCase())
      expect(first.allowCredentials.length).toBeGreaterThan(0)
      expect(second.allowCredentials).toEqual(first.allowCredentials)
      for (const c of first.allowCredentials) expect(Buffer.from(c.id, 'base64url')).toHaveLength(32)
      expect(first.challenge).not.toBe(second.challenge)
      // An account without passkeys looks the same as no account.
      const passwordOnly = await registerUser(t)
      const options = await loginChallenge(passwordOnly.email)
      expect(Object.keys(options).sort()).toEqual(Object.keys(first).sort())
      expect(options.allowCredentials[0]).toEqual({ id: expect.any(String), transports: ['hybrid', 'internal'], type: 'public-key' })
    })

    it('answers malformed bodies with a problem code, never a 5xx', async () => {
      const { user, passkey, userId } = await userWithPasskey()
      const { challenge } = await loginChallenge()
      const good = passkey.assert({ ...ceremony, challenge })
      const assertion = (response: Record<string, unknown>) => ({ response: { ...good, response: { ...good.response, ...response } } })
      const b64 = (s: string) => Buffer.from(s).toString('base64url')
      const loginCases: Array<[unknown, string]> = [
        [{}, 'validation_failed'],
        [{ response: 'x' }, 'validation_failed'],
        [{ response: { ...good, type: 'password' } }, 'validation_failed'],
        [{ response: { ...good, id: 'not base64url!' } }, 'validation_failed'],
        [{ ...assertion({}), extra: 1 }, 'validation_failed'],
        [assertion({ signature: undefined }), 'validation_failed'],
        [assertion({ clientDataJSON: b64('not json') }), 'passkey_response_invalid'],
        [assertion({ clientDataJSON: b64('[]') }), 'passkey_response_invalid'],
        [assertion({ clientDataJSON: b64(JSON.stringify({ type: 'webauthn.create', challenge, origin: SPA })) }), 'passkey_response_invalid'],
      ]
      for (const [payload, code] of loginCases) {
        const res = await post('/auth/passkeys/login/verify', payload)
        expect({ payload, code: res.json().code }).toEqual({ payload, code })
      }
      // Challenge spent by none of the above: the clientData checks come first.
      const { challenge: fresh } = await loginChallenge()
      const shortData = passkey.assert({ ...ceremony, challenge: fresh })
      expectProblem(await post('/auth/passkeys/login/verify', { response: { ...shortData, response: { ...shortData.response, authenticatorData: b64('short') } } }), 400, 'passkey_response_invalid')

      const regCases: Array<(c: string) => [unknown, string]> = [
        () => [{ response: {} }, 'validation_failed'],
        () => [{ name: 'x' }, 'validation_failed'],
        (c) => [{ response: { ...passkey.register({ ...ceremony, challenge: c, userId }), response: { clientDataJSON: b64(JSON.stringify({ type: 'webauthn.create', challenge: c, origin: SPA })), attestationObject: b64('garbage') } } }, 'passkey_response_invalid'],
        (c) => [{ response: { ...passkey.register({ ...ceremony, challenge: c, userId }), response: { clientDataJSON: b64(JSON.stringify({ type: 'webauthn.get', challenge: c, origin: SPA })), attestationObject: b64('x') } } }, 'passkey_response_invalid'],
        (c) => [{ response: passkey.register({ ...ceremony, challenge: c, userId }), name: 'n'.repeat(65) }, 'validation_failed'],
      ]
      for (const make of regCases) {
        const [payload, code] = make((await registrationOptions(user.access_token)).challenge)
        const res = await post('/me/passkeys/register/verify', payload, user.access_token)
        expect(res.statusCode).toBeLessThan(500)
        expect(res.json().code).toBe(code)
      }
      expectProblem(await post('/auth/passkeys/login/options', { email: 5 }), 400, 'validation_failed')
      expectProblem(await post('/me/passkeys/register/options', { x: 1 }, user.access_token), 400, 'validation_failed')
    })

    it('counts ceremonies by outcome in the metrics', async () => {
      const text = await metrics.registry.metrics()
      expect(text).toMatch(/latchkey_passkey_ceremonies_total\{ceremony="login",outcome="ok"\} [1-9]/)
      expect(text).toMatch(/latchkey_passkey_ceremonies_total\{ceremony="login",outcome="passkey_challenge_used"\} [1-9]/)
      expect(text).toMatch(/latchkey_passkey_ceremonies_total\{ceremony="register",outcome="ok"\} [1-9]/)
    })
  })
}

describe('passkey routes: body limits, media types and rate limits', () => {
  it('answer 413, 415 and 429 problems like every other route', async () => {
    const t = await createTestApp({ env: { PUBLIC_URL, RATE_LIMIT_LOGIN_PER_IP: '3' } })
    try {
      const user = await registerUser(t)
      const routes = [
        ['POST', '/auth/passkeys/login/options', {}],
        ['POST', '/auth/passkeys/login/verify', bearer('x')],
        ['POST', '/me/passkeys/register/verify', bearer(user.access_token)],
        ['PATCH', '/me/passkeys/00000000-0000-4000-8000-000000000000', bearer(user.access_token)],
      ] as const
      for (const [method, url, headers] of routes) {
        const big = await t.inject({ method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(20_000) }) })
        expect({ url, status: big.statusCode, code: big.json().code }).toEqual({ url, status: 413, code: 'payload_too_large' })
        const text = await t.inject({ method, url, headers: { ...headers, 'content-type': 'text/plain' }, payload: 'hello' })
        expect({ url, status: text.statusCode, code: text.json().code }).toEqual({ url, status: 415, code: 'unsupported_media_type' })
      }
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) statuses.push((await t.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} })).statusCode)
      for (let i = 0; i < 4; i++) statuses.push((await t.inject({ method: 'POST', url: '/auth/passkeys/login/verify', payload: {} })).statusCode)
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(4)
      const limited = await t.inject({ method: 'POST', url: '/auth/passkeys/login/verify', payload: {} })
      expect({ status: limited.statusCode, retry: limited.headers['retry-after'] }).toEqual({ status: 429, retry: expect.stringMatching(/^[0-9]+$/) })
      expect((await t.inject({ method: 'POST', url: '/auth/passkeys/login/options', payload: {} })).statusCode).toBe(429)
    } finally {
      await t.close()
    }
  })
})

passkeyRoutes('sqlite', async () => ({ store: createSqliteStore({ path: ':memory:' }), dispose: async () => undefined }))

const databaseUrl = process.env.TEST_DATABASE_URL
if (databaseUrl) {
  passkeyRoutes('postgres', () => freshPostgresStore(databaseUrl))
} else {
  describe.skip('passkeys (postgres: set TEST_DATABASE_URL to run)', () => {
    it('runs every passkey ceremony on PostgreSQL', () => {})
  })
}
