import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'
import { passwordStep, secondStep, userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'

describe('logs never carry a secret', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'trace', RATE_LIMIT_ENABLED: 'false' } })
  })
  afterAll(() => t.close())

  const expectNoSecret = (secrets: string[]) => {
    const output = t.logs.join('')
    expect(t.logs.length).toBeGreaterThan(10)
    for (const secret of secrets) {
      expect(output.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 12)}…`).toBe(false)
    }
    expect(output).toContain('incoming request')
  }

  it('passwords, tokens and Authorization headers stay out of trace-level logs', async () => {
    const { email, access_token, refresh_token } = await registerUser(t)
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong-password-123' } })
    await t.inject({ method: 'GET', url: '/me', headers: { ...bearer(access_token), cookie: 'latchkey_refresh=secret-cookie-value' } })
    await t.inject({ method: 'GET', url: '/me', headers: bearer(`${access_token}x`) })
    const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: refreshed.json().refresh_token } })
    expectNoSecret([PASSWORD, 'wrong-password-123', access_token, access_token.split('.')[2]!, refresh_token, refreshed.json().refresh_token, 'secret-cookie-value'])
  })

  it('every registered route, driven with valid, broken and missing credentials, logs none of them', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}-long-enough`
    const newPassword = `npw-${randomBytes(8).toString('hex')}-long-enough`
    const { email, access_token, refresh_token } = await registerUser(t)
    const login = (await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })).json()
    const reg2 = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: `other-${randomBytes(4).toString('hex')}@example.com`, password } })
    const cookie = `cookie-${randomBytes(8).toString('hex')}`
    const basic = `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`
    const brokenToken = `${access_token.slice(0, -4)}AAAA`
    const secrets = [
      password, newPassword, PASSWORD, access_token, access_token.split('.')[2]!, brokenToken, refresh_token, refresh_token.slice(4),
      login.refresh_token, login.access_token, reg2.json().refresh_token, cookie, basic, basic.slice(6),
    ]
    const body = { email, password, current_password: password, new_password: newPassword, refresh_token: login.refresh_token, access_token }
    const authorizations = [`Bearer ${access_token}`, `Bearer ${brokenToken}`, basic, undefined]

    // Enumerated, so a route added later is driven too.
    const routes = t.app.registeredRoutes()
    expect(routes.length).toBeGreaterThanOrEqual(8)
    for (const route of routes) {
      const url = route.url.replace(/:[A-Za-z0-9_]+/g, '00000000-0000-4000-8000-000000000000')
      for (const authorization of authorizations) {
        const headers: Record<string, string> = { cookie: `latchkey_refresh=${cookie}; other=${cookie}`, 'x-refresh-token': refresh_token }
        if (authorization) headers.authorization = authorization
        const hasBody = route.method !== 'GET' && route.method !== 'HEAD' && route.method !== 'OPTIONS'
        await t.app.inject({
          method: route.method as 'GET',
          url: `${url}?access_token=${access_token}&refresh_token=${refresh_token}&password=${password}`,
          headers,
          ...(hasBody ? { payload: body } : {}),
        })
        if (hasBody) {
          // and a body that fails to parse, so the error paths log too
          await t.app.inject({ method: route.method as 'POST', url, headers: { ...headers, 'content-type': 'application/json' }, payload: `{"password":"${password}",` })
        }
      }
    }
    // The real flows for each auth route, so the success paths log as well.
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
    const rotated = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.refresh_token } })
    secrets.push(rotated.json().refresh_token, rotated.json().access_token)
    await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: login.refresh_token } })
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: rotated.json().refresh_token } })

    expectNoSecret(secrets)
  })

  it('TOTP secrets, QR codes, codes, recovery codes and MFA challenges stay out of the logs, on success and failure paths', async () => {
    t.clock.set(Date.parse('2026-03-01T00:00:15Z'))
    const user = await userWithTotp(t)
    const enrolment = await t.inject({ method: 'POST', url: '/me/mfa/totp', headers: bearer(user.access_token) })
    const secrets = [user.secret, ...user.recoveryCodes, ...user.recoveryCodes.map((c) => c.replace(/-/g, ''))]
    t.clock.advance(30_000) // past the step the enrolment used
    const wrongCode = totpAt(user.secret, t.clock.now() + 20 * 30_000)
    const code = totpAt(user.secret, t.clock.now())
    const challenge = await passwordStep(t, user.email)
    await secondStep(t, challenge, { code: wrongCode })
    await secondStep(t, challenge, { recovery_code: 'zzzz-zzzz-zzzz-zzzz' })
    const done = await secondStep(t, challenge, { code })
    const second = await passwordStep(t, user.email)
    await secondStep(t, second, { recovery_code: user.recoveryCodes[0]! })
    await t.inject({ method: 'POST', url: '/auth/login/mfa', payload: `{"challenge":"${second}","code":` , headers: { 'content-type': 'application/json' } })
    await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(done.json().access_token), payload: { code: wrongCode, password: PASSWORD } })
    t.clock.advance(30_000)
    const stepCode = totpAt(user.secret, t.clock.now())
    const stepped = await t.inject({ method: 'POST', url: '/auth/step-up', headers: bearer(done.json().access_token), payload: { code: stepCode } })
    expect([done.statusCode, stepped.statusCode]).toEqual([200, 200])
    secrets.push(challenge, second, code, wrongCode, stepCode, done.json().access_token, stepped.json().access_token, stepped.json().refresh_token)
    if (enrolment.statusCode === 200) secrets.push(enrolment.json().qr_code.slice(22, 80))
    expectNoSecret(secrets.filter((s) => s.length >= 6))
  })
})

