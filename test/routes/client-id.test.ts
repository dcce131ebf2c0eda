import { decodeJwt } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PASSWORD, bearer, createTestApp, uniqueEmail, type TestApp } from '../helpers/app.ts'

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
