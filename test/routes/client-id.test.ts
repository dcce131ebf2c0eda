import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, bearer, createTestApp, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { clientIdOf, expectRefreshKeepsClient } from '../helpers/client-id.ts'
import { secondStep, userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'
import { enrolSoftwarePasskey } from '../helpers/webauthn.ts'

/**
 * RFC 9068 §2.2 `client_id`: a sign-in may name one of the deployment's CLIENT_IDS; the session keeps
 * it, every access token of the session carries it, and a refresh naming another client is refused.
 */
describe('client_id (CLIENT_IDS=web-app,ios-app)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { CLIENT_IDS: 'web-app, ios-app', CORS_ORIGINS: 'http://app.example' } })
  })
  afterEach(() => t.close())

  async function registered(): Promise<string> {
    const email = uniqueEmail()
    expect((await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })).statusCode).toBe(201)
    return email
  }

  const login = (email: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD, ...extra }, headers })
  const refresh = (payload: Record<string, unknown>, headers: Record<string, string> = {}) => t.inject({ method: 'POST', url: '/auth/refresh', payload, headers })

  it('a sign-in naming a known client gets tokens with client_id, kept across refreshes; /me/claims shows it', async () => {
    const email = await registered()
    const signedIn = await login(email, { client_id: 'ios-app' })
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    expect(decodeJwt(signedIn.json().access_token).client_id).toBe('ios-app')
    // The refresh need not repeat it: the session remembers.
    const next = await refresh({ refresh_token: signedIn.json().refresh_token })
    expect(next.statusCode, next.body).toBe(200)
    expect(decodeJwt(next.json().access_token).client_id).toBe('ios-app')
    const again = await refresh({ refresh_token: next.json().refresh_token, client_id: 'ios-app' })
    expect(again.statusCode, again.body).toBe(200)
    const claims = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(again.json().access_token) })
    expect(claims.json().client_id).toBe('ios-app')
  })

  it('a sign-up may name its client too; without one the tokens carry no client_id', async () => {
    const email = uniqueEmail()
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD, client_id: 'web-app' } })
    expect(res.statusCode, res.body).toBe(201)
    expect(decodeJwt(res.json().access_token).client_id).toBe('web-app')
    const plain = await login(email)
    expect(decodeJwt(plain.json().access_token)).not.toHaveProperty('client_id')
  })

  it('an unknown or malformed client_id is a 400 validation_failed naming the field, before any password check', async () => {
    const email = await registered()
    for (const client_id of ['android-app', 'web app', '', 'x'.repeat(65), 42]) {
      const res = await login(email, { client_id })
      expect(res.statusCode, String(client_id)).toBe(400)
      expect(res.json().code).toBe('validation_failed')
    }
    const unknown = await login(email, { client_id: 'android-app' })
    expect(unknown.json().errors).toEqual([{ field: 'client_id', message: 'is not one of the configured CLIENT_IDS' }])
    // Not even a wrong password gets further.
    expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong password here', client_id: 'android-app' } })).json().code).toBe('validation_failed')
  })

  it('a refresh naming another client is refused, and the token still works for its own client', async () => {
    const email = await registered()
    const signedIn = await login(email, { client_id: 'ios-app' })
    const token = signedIn.json().refresh_token as string
    const stolen = await refresh({ refresh_token: token, client_id: 'web-app' })
    expect(stolen.statusCode).toBe(401)
    expect(stolen.json()).toMatchObject({ code: 'invalid_refresh_token', detail: 'this refresh token was issued to another client' })
    expect(stolen.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey"/)
    const own = await refresh({ refresh_token: token })
    expect(own.statusCode, own.body).toBe(200)
    // And a session begun without a client cannot be claimed by one.
    const anonymous = (await login(email)).json().refresh_token as string
    expect((await refresh({ refresh_token: anonymous, client_id: 'web-app' })).json().code).toBe('invalid_refresh_token')
    expect((await refresh({ refresh_token: anonymous })).statusCode).toBe(200)
  })

  it('in cookie mode a refresh naming another client leaves the cookie in place', async () => {
    const email = await registered()
    const origin = 'http://app.example'
    const cookieHeaders = { origin, 'x-latchkey-refresh': 'cookie' }
    const signedIn = await login(email, { client_id: 'web-app' }, cookieHeaders)
    expect(signedIn.statusCode, signedIn.body).toBe(200)
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0]!
    const wrong = await refresh({ client_id: 'ios-app' }, { ...cookieHeaders, cookie })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.headers['set-cookie']).toBeUndefined()
    const right = await refresh({ client_id: 'web-app' }, { ...cookieHeaders, cookie })
    expect(right.statusCode, right.body).toBe(200)
    expect(decodeJwt(right.json().access_token).client_id).toBe('web-app')
  })
})

/**
 * The other sign-ins name their client the same way, in the body: the MFA step (`/auth/login/mfa`)
 * and the passkey sign-in (`/auth/passkeys/login/verify`, alone or as the second factor). The
 * session keeps the client, so the refreshed tokens carry it too.
 */
describe('client_id on the MFA and passkey sign-ins (CLIENT_IDS=web-app,ios-app)', () => {
  const SPA = 'https://app.example.com'
  const RP_ID = 'example.com'
  const ceremony = { origin: SPA, rpId: RP_ID }
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { CLIENT_IDS: 'web-app,ios-app', PUBLIC_URL: 'https://auth.example.com', CORS_ORIGINS: SPA, WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGINS: SPA } })
  })
  afterEach(() => t.close())

  const post = (url: string, payload: object, headers: Record<string, string> = {}) => t.inject({ method: 'POST', url, payload, headers })

  const addPasskey = (accessToken: string) => enrolSoftwarePasskey(t, accessToken, ceremony)

  async function passkeyChallenge(body: object = {}): Promise<string> {
    return ((await post('/auth/passkeys/login/options', body)).json() as { challenge: string }).challenge
  }

  const mfaTokenFor = async (email: string, clientId: string) => (await post('/auth/login', { email, password: PASSWORD, client_id: clientId })).json().mfa_token as string

  it('the MFA step carries the client the password step named into the tokens and the session', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const res = await secondStep(t, await mfaTokenFor(user.email, 'ios-app'), { code: totpAt(user.secret, t.clock.now()) }, {})
    // The challenge remembers the client: the step need not repeat it (test/routes/mfa-client-id.test.ts).
    expect(res.statusCode, res.body).toBe(200)
    expect(clientIdOf(res)).toBe('ios-app')
    t.clock.advance(30_000)
    const named = await post('/auth/login/mfa', { challenge: await mfaTokenFor(user.email, 'ios-app'), code: totpAt(user.secret, t.clock.now()), client_id: 'ios-app' })
    expect(named.statusCode, named.body).toBe(200)
    expect(decodeJwt(named.json().access_token)).toMatchObject({ client_id: 'ios-app', amr: ['pwd', 'otp'] })
    await expectRefreshKeepsClient(t, named, 'ios-app')
    // A recovery code carries it the same way.
    const recovered = await post('/auth/login/mfa', { challenge: await mfaTokenFor(user.email, 'web-app'), recovery_code: user.recoveryCodes[0], client_id: 'web-app' })
    expect(clientIdOf(recovered)).toBe('web-app')
  })

  it('an unknown client at the MFA step is a 400 that spends neither the code nor the challenge', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const challenge = await mfaTokenFor(user.email, 'web-app')
    const code = totpAt(user.secret, t.clock.now())
    const unknown = await post('/auth/login/mfa', { challenge, code, client_id: 'android-app' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'client_id', message: 'is not one of the configured CLIENT_IDS' }] })
    const retry = await post('/auth/login/mfa', { challenge, code, client_id: 'web-app' })
    expect(retry.statusCode, retry.body).toBe(200)
    expect(clientIdOf(retry)).toBe('web-app')
  })

  it('a passkey sign-in carries the client it names into the tokens and the session', async () => {
    const user = await registerUser(t)
    const passkey = await addPasskey(user.access_token)
    const res = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: await passkeyChallenge() }), client_id: 'web-app' })
    expect(res.statusCode, res.body).toBe(200)
    expect(decodeJwt(res.json().access_token)).toMatchObject({ client_id: 'web-app', amr: ['hwk', 'user', 'mfa'] })
    await expectRefreshKeepsClient(t, res, 'web-app')
    const plain = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge: await passkeyChallenge() }) })
    expect(clientIdOf(plain)).toBeUndefined()
  })

  it('an unknown client at the passkey sign-in is a 400 that spends no challenge', async () => {
    const user = await registerUser(t)
    const passkey = await addPasskey(user.access_token)
    const challenge = await passkeyChallenge()
    const unknown = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), client_id: 'android-app' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().errors).toEqual([{ field: 'client_id', message: 'is not one of the configured CLIENT_IDS' }])
    const retry = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), client_id: 'ios-app' })
    expect(retry.statusCode, retry.body).toBe(200)
    expect(clientIdOf(retry)).toBe('ios-app')
  })

  it('a step-up continues the session\'s client; naming another is a 400', async () => {
    const { email } = await registerUser(t)
    const signedIn = await post('/auth/login', { email, password: PASSWORD, client_id: 'ios-app' })
    const token = signedIn.json().access_token as string
    const other = await post('/auth/step-up', { password: PASSWORD, client_id: 'web-app' }, bearer(token))
    expect(other.statusCode).toBe(400)
    expect(other.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'client_id', message: 'is not the client this session was signed in with' }] })
    const unknown = await post('/auth/step-up', { password: PASSWORD, client_id: 'android-app' }, bearer(token))
    expect(unknown.json().errors).toEqual([{ field: 'client_id', message: 'is not one of the configured CLIENT_IDS' }])
    // Named again, or not at all: the new session keeps ios-app.
    const named = await post('/auth/step-up', { password: PASSWORD, client_id: 'ios-app' }, bearer(token))
    expect(named.statusCode, named.body).toBe(200)
    expect(clientIdOf(named)).toBe('ios-app')
    const unnamed = await post('/auth/step-up', { password: PASSWORD }, bearer(named.json().access_token))
    expect(unnamed.statusCode, unnamed.body).toBe(200)
    expect(clientIdOf(unnamed)).toBe('ios-app')
    await expectRefreshKeepsClient(t, unnamed, 'ios-app')
  })

  it('a passkey as the second factor carries the client too', async () => {
    const user = await userWithTotp(t)
    const passkey = await addPasskey(user.access_token)
    const mfaToken = await mfaTokenFor(user.email, 'ios-app')
    const challenge = await passkeyChallenge({ mfa_token: mfaToken })
    const res = await post('/auth/passkeys/login/verify', { response: passkey.assert({ ...ceremony, challenge }), mfa_token: mfaToken, client_id: 'ios-app' })
    expect(res.statusCode, res.body).toBe(200)
    expect(decodeJwt(res.json().access_token)).toMatchObject({ client_id: 'ios-app', amr: ['pwd', 'hwk', 'user', 'mfa'] })
    await expectRefreshKeepsClient(t, res, 'ios-app')
  })
})

describe('client_id without CLIENT_IDS', () => {
  it('no client is known: naming one is refused, signing in without one works as before', async () => {
    const t = await createTestApp()
    try {
      const email = uniqueEmail()
      const named = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD, client_id: 'web-app' } })
      expect(named.statusCode).toBe(400)
      expect(named.json().code).toBe('validation_failed')
      const plain = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
      expect(plain.statusCode).toBe(201)
      expect(decodeJwt(plain.json().access_token)).not.toHaveProperty('client_id')
    } finally {
      await t.close()
    }
  })
})
