import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BARE_CHALLENGE, bearer, createTestApp, PASSWORD, registerUser, T0, uniqueEmail, type TestApp } from '../helpers/app.ts'

describe('the sign-in flow', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it('register → login → /me → /me/claims → refresh → logout, end to end', async () => {
    const email = uniqueEmail()
    const reg = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: `  ${email.toUpperCase()} `, password: PASSWORD } })
    expect(reg.statusCode).toBe(201)
    expect(reg.headers['cache-control']).toBe('no-store')
    const regBody = reg.json()
    expect(regBody).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'user', refresh_expires_in: 30 * 86400 })
    expect(regBody.refresh_token).toMatch(/^lkr_[A-Za-z0-9_-]{43}$/)

    const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(login.statusCode).toBe(200)
    const tokens = login.json()

    const me = await t.inject({ method: 'GET', url: '/me', headers: bearer(tokens.access_token) })
    expect(me.statusCode).toBe(200)
    expect(me.json()).toMatchObject({ email, scope: 'user', created_at: new Date(T0).toISOString() })

    const claims = await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(tokens.access_token) })
    expect(claims.statusCode).toBe(200)
    expect(claims.json()).toMatchObject({ iss: t.config.issuer, aud: t.config.audience, sub: me.json().id, scope: 'user', exp: T0 / 1000 + 600 })

    t.clock.advance(60_000)
    const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
    expect(refreshed.statusCode).toBe(200)
    const rotated = refreshed.json()
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token)
    expect(rotated.access_token).not.toBe(tokens.access_token)

    const logout = await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: rotated.refresh_token } })
    expect(logout.statusCode).toBe(204)
    const after = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: rotated.refresh_token } })
    expect(after.statusCode).toBe(401)
    expect(after.json().code).toBe('session_revoked')

    const events = (await t.store.listAudit({ limit: 10 })).map((e) => e.type)
    expect(events).toEqual(['logout', 'refresh', 'login_succeeded', 'register'])
  })

  it('refuses a second registration of the same (normalised) email with 409 email_taken', async () => {
    const { email } = await registerUser(t)
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: email.toUpperCase(), password: PASSWORD } })
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('email_taken')
  })

  it('refuses weak passwords with 422 weak_password naming the field', async () => {
    for (const password of ['short', 'password1234', 'aaaaaaaaaaaaaaaa']) {
      const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password } })
      expect(res.statusCode).toBe(422)
      expect(res.json()).toMatchObject({ code: 'weak_password', errors: [{ field: 'password' }] })
    }
    const tooLong = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: 'é'.repeat(600) } })
    expect(tooLong.json().code).toBe('weak_password')
  })

  it('answers a wrong password with 401 invalid_credentials and a Bearer challenge', async () => {
    const { email } = await registerUser(t)
    const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'not the password at all' } })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('invalid_credentials')
    expect(res.headers['www-authenticate']).toBe(BARE_CHALLENGE)
  })

  it('logout with an unknown or malformed token is a quiet 204', async () => {
    expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'lkr_' + 'A'.repeat(43) } })).statusCode).toBe(204)
    expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'garbage' } })).statusCode).toBe(204)
  })

  it('publishes the signing key in the JWKS with a public Cache-Control', async () => {
    const res = await t.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('public, max-age=300')
    const { keys } = res.json()
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: t.keys.current.signing!.kid })
    expect(keys[0]).not.toHaveProperty('d')
  })

  it('reports liveness and readiness, and 503 when the store is gone', async () => {
    expect((await t.inject({ method: 'GET', url: '/health/live' })).json()).toEqual({ status: 'ok' })
    expect((await t.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({ status: 'ok', checks: { store: 'ok' } })
    await t.store.close()
    const down = await t.inject({ method: 'GET', url: '/health/ready' })
    expect(down.statusCode).toBe(503)
    expect(down.json()).toMatchObject({ code: 'service_unavailable', checks: { store: 'unavailable' } })
  })
})

describe('access token format', () => {
  it('is an RS256 at+jwt with the RFC 9068 claims, under 1 KB', async () => {
    const t = await createTestApp()
    try {
      const { access_token } = await registerUser(t)
      const [h, p] = access_token.split('.')
      expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: t.keys.current.signing!.kid })
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString())
      expect(Object.keys(claims).sort()).toEqual(['acr', 'amr', 'aud', 'auth_time', 'email_verified', 'exp', 'iat', 'iss', 'jti', 'nbf', 'scope', 'sid', 'sub'])
      expect(claims.email_verified).toBe(false)
      expect(claims.exp - claims.iat).toBe(600)
      expect(access_token.length).toBeLessThan(1024)
      console.info(`access token size: ${access_token.length} bytes`)
    } finally {
      await t.close()
    }
  })
})
