import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { hashOneTimeToken } from '../../src/tokens/one-time-token.ts'
import { createTestApp, PASSWORD, type TestApp } from '../helpers/app.ts'
import { clientIdOf, expectRefreshKeepsClient } from '../helpers/client-id.ts'
import { userWithTotp } from '../helpers/mfa.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { totpAt } from '../helpers/totp.ts'
import { enrolSoftwarePasskey } from '../helpers/webauthn.ts'

/**
 * The MFA challenge remembers the client (RFC 9068 `client_id`) the password step named: the second
 * step (a code, a recovery code or a passkey) need not repeat it, may repeat it, and may neither
 * change it nor add one to a challenge made without — refused with 400 before anything is spent.
 */
const databaseUrl = process.env.TEST_DATABASE_URL
if (!databaseUrl) console.warn('MFA client_id on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

const backends: Array<[string, () => Promise<{ store: Store; dispose(): Promise<void> }>, boolean]> = [
  ['SQLite', async () => ({ store: createSqliteStore({ path: ':memory:' }), dispose: async () => undefined }), true],
  ['PostgreSQL', async () => freshPostgresStore(databaseUrl!), databaseUrl !== undefined],
]

describe.each(backends)('the MFA challenge keeps the sign-in\'s client_id (%s)', (_name, open, enabled) => {
  const SPA = 'https://app.example.com'
  const RP_ID = 'example.com'
  const ceremony = { origin: SPA, rpId: RP_ID }
  let t: TestApp
  let dispose: () => Promise<void>
  beforeEach(async () => {
    if (!enabled) return
    const opened = await open()
    dispose = opened.dispose
    t = await createTestApp({
      store: opened.store,
      env: { CLIENT_IDS: 'web-app,ios-app', PUBLIC_URL: 'https://auth.example.com', CORS_ORIGINS: SPA, WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: SPA },
    })
  })
  afterEach(async () => {
    if (!enabled) return
    await t.close()
    await dispose()
  })

  const post = (url: string, payload: object, headers: Record<string, string> = {}) => t.inject({ method: 'POST', url, payload, headers })

  async function passwordStep(email: string, clientId?: string): Promise<string> {
    const res = await post('/auth/login', { email, password: PASSWORD, ...(clientId === undefined ? {} : { client_id: clientId }) })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().mfa_required).toBe(true)
    return res.json().mfa_token as string
  }

  function expectClientRefused(res: { statusCode: number; json(): unknown }, message: string) {
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'client_id', message }] })
  }

  const addPasskey = (accessToken: string) => enrolSoftwarePasskey(t, accessToken, ceremony)

  const passkeyChallenge = async (mfaToken: string) => ((await post('/auth/passkeys/login/options', { mfa_token: mfaToken })).json() as { challenge: string }).challenge

  it.runIf(enabled)('a code without client_id signs in for the client the password step named, kept across a refresh', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const res = await post('/auth/login/mfa', { challenge: await passwordStep(user.email, 'ios-app'), code: totpAt(user.secret, t.clock.now()) })
    expect(res.statusCode, res.body).toBe(200)
    expect(decodeJwt(res.json().access_token)).toMatchObject({ client_id: 'ios-app', amr: ['pwd', 'otp'] })
    await expectRefreshKeepsClient(t, res, 'ios-app')
    // Repeating it is fine; a recovery code carries it the same way.
    t.clock.advance(30_000)
    const repeated = await post('/auth/login/mfa', { challenge: await passwordStep(user.email, 'web-app'), code: totpAt(user.secret, t.clock.now()), client_id: 'web-app' })
    expect(repeated.statusCode, repeated.body).toBe(200)
    expect(clientIdOf(repeated)).toBe('web-app')
    const recovered = await post('/auth/login/mfa', { challenge: await passwordStep(user.email, 'web-app'), recovery_code: user.recoveryCodes[0] })
    expect(recovered.statusCode, recovered.body).toBe(200)
    expect(clientIdOf(recovered)).toBe('web-app')
    // A sign-in without a client stays without one.
    t.clock.advance(30_000)
    const plain = await post('/auth/login/mfa', { challenge: await passwordStep(user.email), code: totpAt(user.secret, t.clock.now()) })
    expect(plain.statusCode, plain.body).toBe(200)
    expect(clientIdOf(plain)).toBeUndefined()
    await expectRefreshKeepsClient(t, plain, undefined)
  })

  it.runIf(enabled)('another client at the MFA step is a 400 that spends neither the code nor the challenge', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const challenge = await passwordStep(user.email, 'ios-app')
    const code = totpAt(user.secret, t.clock.now())
    const before = await t.store.factors.findChallenge(hashOneTimeToken(challenge))
    expect(before?.clientId).toBe('ios-app')
    expectClientRefused(await post('/auth/login/mfa', { challenge, code, client_id: 'web-app' }), 'is not the client_id this sign-in was started with')
    // Untouched: no failure counted, not consumed, still for ios-app.
    expect(await t.store.factors.findChallenge(hashOneTimeToken(challenge))).toEqual(before)
    const retry = await post('/auth/login/mfa', { challenge, code })
    expect(retry.statusCode, retry.body).toBe(200)
    expect(clientIdOf(retry)).toBe('ios-app')
  })

  it.runIf(enabled)('a client named only at the MFA step, for a sign-in without one, is a 400 that spends nothing', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const challenge = await passwordStep(user.email)
    const code = totpAt(user.secret, t.clock.now())
    expectClientRefused(await post('/auth/login/mfa', { challenge, code, client_id: 'web-app' }), 'this sign-in was started without a client_id')
    const retry = await post('/auth/login/mfa', { challenge, code })
    expect(retry.statusCode, retry.body).toBe(200)
    expect(clientIdOf(retry)).toBeUndefined()
  })

  it.runIf(enabled)('a passkey as the second factor signs in for the remembered client; another is a 400 that spends nothing', async () => {
    const user = await userWithTotp(t)
    const passkey = await addPasskey(user.access_token)
    const mfaToken = await passwordStep(user.email, 'ios-app')
    const challenge = await passkeyChallenge(mfaToken)
    expectClientRefused(
      await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), mfa_token: mfaToken, client_id: 'web-app' }),
      'is not the client_id this sign-in was started with',
    )
    // Neither the WebAuthn challenge nor the MFA challenge was spent.
    const res = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), mfa_token: mfaToken })
    expect(res.statusCode, res.body).toBe(200)
    expect(decodeJwt(res.json().access_token)).toMatchObject({ client_id: 'ios-app', amr: ['pwd', 'hwk', 'user', 'mfa'] })
    await expectRefreshKeepsClient(t, res, 'ios-app')

    // Without a client at the password step, naming one at the passkey step is refused too.
    const bare = await passwordStep(user.email)
    const bareChallenge = await passkeyChallenge(bare)
    expectClientRefused(
      await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: bareChallenge }), mfa_token: bare, client_id: 'ios-app' }),
      'this sign-in was started without a client_id',
    )
    const plain = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: bareChallenge }), mfa_token: bare })
    expect(plain.statusCode, plain.body).toBe(200)
    expect(clientIdOf(plain)).toBeUndefined()
  })
})
