import { afterEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'

const WRONG = 'not the password at all'

describe('rate limits (in-process counters)', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  const login = (app: TestApp, email: string, password = WRONG, ip = '127.0.0.1') =>
    app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress: ip })

  it('limits login attempts per account, counting every spelling of the email as one account', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_LOGIN_PER_ACCOUNT: '3', RATE_LIMIT_WINDOW: '60' } })
    const { email } = await registerUser(t)
    expect((await login(t, email)).statusCode).toBe(401)
    expect((await login(t, `  ${email.toUpperCase()}`, WRONG, '10.0.0.2')).statusCode).toBe(401)
    expect((await login(t, email, WRONG, '10.0.0.3')).statusCode).toBe(401)

    // From yet another IP and with the right password: the account's budget is spent.
    const limited = await login(t, email, PASSWORD, '10.0.0.4')
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(limited.json()).toMatchObject({ code: 'rate_limited', status: 429 })
    const retryAfter = Number(limited.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)

    // Another account is not affected.
    const other = await registerUser(t)
    expect((await login(t, other.email, PASSWORD)).statusCode).toBe(200)
  })

  it('limits login attempts per IP across accounts', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_LOGIN_PER_IP: '3' } })
    for (let i = 0; i < 3; i++) expect((await login(t, uniqueEmail(), WRONG, '10.1.1.1')).statusCode).toBe(401)
    const limited = await login(t, uniqueEmail(), WRONG, '10.1.1.1')
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['retry-after']).toMatch(/^[0-9]+$/)
    expect((await login(t, uniqueEmail(), WRONG, '10.1.1.2')).statusCode).toBe(401)
  })

  it('limits registrations per IP and per email', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_REGISTER_PER_IP: '2', RATE_LIMIT_REGISTER_PER_ACCOUNT: '2' } })
    const register = (email: string, ip: string) =>
      t!.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD }, remoteAddress: ip })
    expect((await register(uniqueEmail(), '10.2.0.1')).statusCode).toBe(201)
    expect((await register(uniqueEmail(), '10.2.0.1')).statusCode).toBe(201)
    expect((await register(uniqueEmail(), '10.2.0.1')).statusCode).toBe(429)

    const email = uniqueEmail()
    expect((await register(email, '10.2.0.2')).statusCode).toBe(201)
    expect((await register(email, '10.2.0.3')).statusCode).toBe(409)
    expect((await register(email, '10.2.0.4')).statusCode).toBe(429)
  })

  it('limits refreshes per refresh token', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_REFRESH_PER_TOKEN: '2' } })
    const refresh = (token: string) => t!.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
    const unknown = 'lkr_' + 'A'.repeat(43)
    expect((await refresh(unknown)).statusCode).toBe(401)
    expect((await refresh(unknown)).statusCode).toBe(401)
    expect((await refresh(unknown)).statusCode).toBe(429)
    // A different token still goes through.
    const { refresh_token } = await registerUser(t)
    expect((await refresh(refresh_token)).statusCode).toBe(200)
  })

  it('limits a route that names the password_change policy per authenticated account', async () => {
    t = await createTestApp({
      env: { RATE_LIMIT_PASSWORD_PER_ACCOUNT: '2' },
      routes: (app) => app.put('/test/password', { config: { rateLimitPolicy: 'password_change' } }, async (_req, reply) => reply.code(204).send()),
    })
    const a = await registerUser(t)
    const b = await registerUser(t)
    const put = (token: string) => t!.app.inject({ method: 'PUT', url: '/test/password', headers: bearer(token) })
    expect((await put(a.access_token)).statusCode).toBe(204)
    expect((await put(a.access_token)).statusCode).toBe(204)
    const limited = await put(a.access_token)
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['retry-after']).toMatch(/^[0-9]+$/)
    expect((await put(b.access_token)).statusCode).toBe(204)
  })

  it('RATE_LIMIT_ENABLED=false turns every limit off', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_LOGIN_PER_ACCOUNT: '1', RATE_LIMIT_LOGIN_PER_IP: '1' } })
    const { email } = await registerUser(t)
    for (let i = 0; i < 5; i++) expect((await login(t, email)).statusCode).toBe(401)
  })
})
