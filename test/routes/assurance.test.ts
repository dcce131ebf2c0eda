import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { hashRefreshToken, mintRefreshToken } from '../../src/tokens/refresh-token.ts'
import { bearer, createTestApp, DPOP_CHALLENGE, PASSWORD, registerUser, T0, type TestApp } from '../helpers/app.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
const SECONDS = 1000

/** amr/acr/auth_time at sign-in, across refreshes, and the recent-sign-in routes, on one store kind. */
function assurance(name: string, open: () => Promise<{ store: Store; dispose(): Promise<void> }>) {
  describe(`assurance claims and step-up (${name})`, () => {
    let t: TestApp
    let dispose: () => Promise<void>
    beforeAll(async () => {
      const opened = await open()
      dispose = opened.dispose
      t = await createTestApp({ store: opened.store })
    })
    afterAll(async () => {
      await t.close()
      await dispose()
    })
    const refresh = (token: string) => t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })

    it('a password sign-in carries amr ["pwd"], acr aal1 and its auth_time, unchanged by refreshes', async () => {
      t.clock.set(T0)
      const user = await registerUser(t)
      expect(claimsOf(user.access_token)).toMatchObject({ amr: ['pwd'], acr: 'aal1', auth_time: T0 / 1000 })
      const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      expect(claimsOf(login.json().access_token)).toMatchObject({ amr: ['pwd'], acr: 'aal1', auth_time: T0 / 1000 })

      let refreshToken = login.json().refresh_token as string
      for (const later of [1000, 86_400]) {
        t.clock.set(T0 + later * SECONDS)
        const res = await refresh(refreshToken)
        expect(res.statusCode).toBe(200)
        const claims = claimsOf(res.json().access_token)
        expect(claims.iat).toBe(T0 / 1000 + later)
        expect(claims).toMatchObject({ amr: ['pwd'], acr: 'aal1', auth_time: T0 / 1000 })
        refreshToken = res.json().refresh_token
      }
    })

    it('a two-factor session keeps amr ["pwd","otp"], acr aal2 and its auth_time across refreshes, never upgraded nor downgraded', async () => {
      t.clock.set(T0)
      const user = await registerUser(t)
      const userId = claimsOf(user.access_token).sub as string
      // A session as the second-factor sign-in records it, begun a minute before now.
      const first = mintRefreshToken()
      const signedInAt = T0 - 60 * SECONDS
      await t.store.createSession({
        id: randomUUID(), userId, createdAt: signedInAt, idleExpiresAt: T0 + 86_400 * SECONDS, absoluteExpiresAt: T0 + 7 * 86_400 * SECONDS,
        userAgent: null, ip: null, tokenHash: hashRefreshToken(first), amr: ['pwd', 'otp'], acr: 'aal2', authTime: signedInAt,
      })
      let token = first
      for (const later of [10, 3600]) {
        t.clock.set(T0 + later * SECONDS)
        const res = await refresh(token)
        expect(res.statusCode).toBe(200)
        expect(claimsOf(res.json().access_token)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2', auth_time: signedInAt / 1000, iat: T0 / 1000 + later })
        token = res.json().refresh_token
      }
    })

    it('changing the password and revoking all sessions want a sign-in at most STEP_UP_MAX_AGE old, with the RFC 9470 challenge', async () => {
      t.clock.set(T0)
      const user = await registerUser(t)
      // 301 s later the refreshed token is valid, but its sign-in is too old for these two routes.
      t.clock.set(T0 + 301 * SECONDS)
      const refreshed = (await refresh(user.refresh_token)).json().access_token as string
      const expected = `Bearer realm="latchkey", error="insufficient_user_authentication", error_description="this action requires a sign-in within the last 300 seconds: authenticate again", max_age=300, ${DPOP_CHALLENGE}`
      const change = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(refreshed), payload: { current_password: PASSWORD, new_password: 'another long passphrase here' } })
      expect(change.statusCode).toBe(401)
      expect(change.headers['www-authenticate']).toBe(expected)
      expect(change.json()).toMatchObject({ code: 'insufficient_user_authentication', status: 401 })
      const revokeAll = await t.inject({ method: 'DELETE', url: '/me/sessions', headers: bearer(refreshed) })
      expect(revokeAll.statusCode).toBe(401)
      expect(revokeAll.headers['www-authenticate']).toBe(expected)
      // Ordinary routes accept the same token.
      expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(refreshed) })).statusCode).toBe(200)

      // A fresh sign-in passes, up to exactly 300 s after it.
      const login = await t.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })
      t.clock.set(T0 + 601 * SECONDS)
      const fresh = login.json().access_token as string
      const ok = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(fresh), payload: { current_password: PASSWORD, new_password: 'another long passphrase here' } })
      expect(ok.statusCode).toBe(204)
      expect((await t.inject({ method: 'DELETE', url: '/me/sessions', headers: bearer(fresh) })).statusCode).toBe(204)
    })
  })
}

assurance('sqlite', async () => ({ store: createSqliteStore({ path: ':memory:' }), dispose: async () => undefined }))

const databaseUrl = process.env.TEST_DATABASE_URL
if (databaseUrl) {
  assurance('postgres', () => freshPostgresStore(databaseUrl))
} else {
  describe.skip('assurance claims and step-up (postgres: set TEST_DATABASE_URL to run)', () => {
    it('runs on PostgreSQL', () => {})
  })
}
