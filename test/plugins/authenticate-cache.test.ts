import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKey } from '../../src/keys/generate-key.ts'
import { createKeySet } from '../../src/keys/key-set.ts'
import { bearer, createTestApp, registerUser, type TestApp } from '../helpers/app.ts'
import { recordOf } from '../helpers/keys.ts'

describe('authentication with the verified-token cache', () => {
  let t: TestApp
  afterEach(() => t.close())

  it('still runs the revocation check on a cache hit', async () => {
    t = await createTestApp({
      routes: (app) => app.get('/test/sensitive', { config: { revocationCheck: true } }, async (request) => ({ sid: request.auth?.sid })),
    })
    const user = await registerUser(t)
    const sensitive = () => t.app.inject({ method: 'GET', url: '/test/sensitive', headers: bearer(user.access_token) })
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })).statusCode).toBe(200)
    expect((await sensitive()).statusCode).toBe(200) // the token is cached by now

    expect((await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.refresh_token } })).statusCode).toBe(204)

    const refused = await sensitive()
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('session_revoked')
    // Ordinary routes stay stateless: the same cached token still works there until it expires.
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })).statusCode).toBe(200)
  })

  it('forgets cached tokens when the key set changes', async () => {
    t = await createTestApp()
    const user = await registerUser(t)
    const claims = () => t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })
    expect((await claims()).statusCode).toBe(200)
    expect((await claims()).statusCode).toBe(200)

    // The signing key is retired outright: its tokens must stop verifying at once, cached or not.
    t.keys.replace(createKeySet([recordOf(await generateSigningKey())]))
    const refused = await claims()
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('invalid_token')
  })

  it('refuses a cached token once it has expired', async () => {
    t = await createTestApp()
    const user = await registerUser(t)
    const claims = () => t.inject({ method: 'GET', url: '/me/claims', headers: bearer(user.access_token) })
    expect((await claims()).statusCode).toBe(200)
    t.clock.advance((user.expires_in + t.config.clockTolerance) * 1000)
    const refused = await claims()
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('token_expired')
  })
})
