import type { AddressInfo } from 'node:net'
import { createLatchkeyClient, LatchkeyError, memoryStorage, MfaRequiredError, type AuthEvent, type LatchkeyClient } from '@latchkey/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, registerUser, type TestApp } from '../helpers/app.ts'
import { claimsOf, userWithTotp } from '../helpers/mfa.ts'
import { totpAt } from '../helpers/totp.ts'

/** The package as a mobile app or a Node service uses it: body mode, real HTTP, the global fetch. */
describe('@latchkey/client in body mode against a listening server', () => {
  let t: TestApp
  let baseUrl: string
  const requests: string[] = []

  beforeAll(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: 'warn' },
      routes: (app) => app.addHook('onResponse', async (req, reply) => void requests.push(`${req.method} ${req.url} ${reply.statusCode}`)),
    })
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
  })
  afterAll(() => t.close())

  it('signs in, refreshes across an expired access token, and signs out', async () => {
    const { email } = await registerUser(t)
    const storage = memoryStorage()
    const client: LatchkeyClient = createLatchkeyClient({ baseUrl, mode: 'body', storage })
    const events: AuthEvent[] = []
    client.onAuthStateChange((event) => events.push(event))
    try {
      const session = await client.signIn(email, PASSWORD)
      expect(session.tokenType).toMatch(/^(Bearer|DPoP)$/)
      const firstRefreshToken = await storage.getItem('latchkey.refresh_token')
      expect(firstRefreshToken).toMatch(/^lkr_/)
      expect((await client.me()).email).toBe(email)

      // Eleven minutes pass on the server: the access token the client holds has expired.
      requests.length = 0
      t.clock.advance(11 * 60_000)
      expect((await client.me()).email).toBe(email)
      expect(requests).toEqual(['GET /me 401', 'POST /auth/refresh 200', 'GET /me 200'])
      const rotated = await storage.getItem('latchkey.refresh_token')
      expect(rotated).toMatch(/^lkr_/)
      expect(rotated).not.toBe(firstRefreshToken)
      expect(client.session!.accessToken).not.toBe(session.accessToken)

      await client.signOut()
      expect(client.session).toBeNull()
      expect(await storage.getItem('latchkey.refresh_token')).toBeNull()
      expect(events).toEqual(['signed_in', 'token_refreshed', 'signed_out'])
      // The server ended the session: its last refresh token is refused.
      const replay = await fetch(`${baseUrl}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: rotated }) })
      expect(replay.status).toBe(401)
      expect(((await replay.json()) as { code: string }).code).toBe('session_revoked')
    } finally {
      client.close()
    }
  })

  it('restores a session from storage at the next start, and reports typed errors', async () => {
    const { email } = await registerUser(t)
    const storage = memoryStorage()
    const first = createLatchkeyClient({ baseUrl, mode: 'body', storage })
    await first.signIn(email, PASSWORD)
    first.close()
    const next = createLatchkeyClient({ baseUrl, mode: 'body', storage })
    try {
      expect(await next.restore()).toBe(true)
      expect((await next.me()).email).toBe(email)
      await expect(next.changePassword('wrong password entirely', 'another long passphrase here')).rejects.toMatchObject({ name: 'LatchkeyError', status: 403, code: 'invalid_current_password' })
      await expect(next.signIn(email, 'not the password at all')).rejects.toMatchObject({ status: 401, code: 'invalid_credentials' })
      expect(await createLatchkeyClient({ baseUrl, mode: 'body', storage: memoryStorage() }).restore()).toBe(false)
    } finally {
      next.close()
    }
  })

  it('an account with a second factor: signIn rejects with MfaRequiredError, completeMfaSignIn with a code starts the session', async () => {
    const user = await userWithTotp(t)
    t.clock.advance(30_000)
    const client = createLatchkeyClient({ baseUrl, mode: 'body', storage: memoryStorage() })
    try {
      const err = await client.signIn(user.email, PASSWORD).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MfaRequiredError)
      const required = err as MfaRequiredError
      expect(required.methods).toEqual(['totp', 'recovery_code'])
      expect(client.session).toBeNull()
      const wrong = await client.completeMfaSignIn(required.mfaToken, { code: totpAt(user.secret, t.clock.now() + 10 * 30_000) }).catch((e: unknown) => e)
      expect(wrong).toBeInstanceOf(LatchkeyError)
      expect((wrong as LatchkeyError).code).toBe('invalid_mfa_code')
      const session = await client.completeMfaSignIn(required.mfaToken, { code: totpAt(user.secret, t.clock.now()) })
      expect(claimsOf(session.accessToken)).toMatchObject({ amr: ['pwd', 'otp'], acr: 'aal2' })
      expect((await client.me()).email).toBe(user.email)
    } finally {
      client.close()
    }
  })
})

