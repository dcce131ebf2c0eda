import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'

describe('logs never carry a secret', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: 'trace' } })
  })
  afterAll(() => t.close())

  it('passwords, tokens and Authorization headers stay out of trace-level logs', async () => {
    const { email, access_token, refresh_token } = await registerUser(t)
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'wrong-password-123' } })
    await t.inject({ method: 'GET', url: '/me', headers: { ...bearer(access_token), cookie: 'latchkey_refresh=secret-cookie-value' } })
    await t.inject({ method: 'GET', url: '/me', headers: bearer(`${access_token}x`) })
    const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: refreshed.json().refresh_token } })

    const output = t.logs.join('')
    expect(t.logs.length).toBeGreaterThan(10)
    for (const secret of [PASSWORD, 'wrong-password-123', access_token, access_token.split('.')[2]!, refresh_token, refreshed.json().refresh_token, 'secret-cookie-value']) {
      expect(output.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 12)}…`).toBe(false)
    }
    expect(output).toContain('incoming request')
  })
})
