import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createTestApp, loginAs, PASSWORD, registerUser, T0, type TestApp } from '../helpers/app.ts'

interface SessionJson {
  id: string
  created_at: string
  last_used_at: string
  expires_at: string
  user_agent: string | null
  ip: string | null
  current: boolean
}

const NEW_PASSWORD = 'a much longer and rarer passphrase'

describe('session management', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  async function listSessions(accessToken: string): Promise<SessionJson[]> {
    const res = await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(accessToken) })
    expect(res.statusCode).toBe(200)
    return (res.json() as { sessions: SessionJson[] }).sessions
  }

  /** One account signed in on three devices; the registration's own session is signed out first. */
  async function threeDevices() {
    const { email, refresh_token } = await registerUser(t)
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token } })
    const laptop = await loginAs(t, email, 'Laptop/1.0')
    t.clock.advance(1000)
    const phone = await loginAs(t, email, 'Phone/2.0')
    t.clock.advance(1000)
    const tablet = await loginAs(t, email, 'Tablet/3.0')
    return { email, laptop, phone, tablet }
  }

  it('lists the three signed-in devices, newest first, with exactly one current', async () => {
    const { phone } = await threeDevices()
    const sessions = await listSessions(phone.access_token)
    expect(sessions.map((s) => s.user_agent)).toEqual(['Tablet/3.0', 'Phone/2.0', 'Laptop/1.0'])
    expect(sessions.filter((s) => s.current).map((s) => s.user_agent)).toEqual(['Phone/2.0'])
    const laptop = sessions[2]!
    expect(laptop).toMatchObject({
      created_at: new Date(T0).toISOString(),
      last_used_at: new Date(T0).toISOString(),
      expires_at: new Date(T0 + 30 * 86400_000).toISOString(),
      ip: '127.0.0.1',
    })
  })

  it('revoking one device stops its refresh and its token on checked routes at once, while stateless routes accept it until expiry', async () => {
    const { laptop, phone } = await threeDevices()
    const laptopId = (await listSessions(laptop.access_token)).find((s) => s.current)!.id

    const revoke = await t.inject({ method: 'DELETE', url: `/me/sessions/${laptopId}`, headers: bearer(phone.access_token) })
    expect(revoke.statusCode).toBe(204)

    const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: laptop.refresh_token } })
    expect(refresh.statusCode).toBe(401)
    expect(refresh.json().code).toBe('session_revoked')

    const checked = await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(laptop.access_token) })
    expect(checked.statusCode).toBe(401)
    expect(checked.json().code).toBe('session_revoked')
    expect(checked.headers['www-authenticate']).toContain('error="invalid_token"')

    // The trade-off of stateless access tokens: the stateless path still accepts it until it expires.
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(laptop.access_token) })).statusCode).toBe(200)
    t.clock.advance(601_000 + t.config.clockTolerance * 1000)
    expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(laptop.access_token) })).statusCode).toBe(401)

    const events = await t.store.listAudit({ type: 'session_revoked', limit: 10 })
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ sessionId: laptopId, details: { reason: 'user_revoked' }, userAgent: 'lightMyRequest' })
    expect(events[0]!.requestId).toBe(revoke.headers['x-request-id'])
  })

  it('signing out other devices keeps exactly the caller', async () => {
    const { laptop, phone, tablet } = await threeDevices()
    const res = await t.inject({ method: 'DELETE', url: '/me/sessions?keep_current=true', headers: bearer(tablet.access_token) })
    expect(res.statusCode).toBe(204)
    const left = await listSessions(tablet.access_token)
    expect(left.map((s) => [s.user_agent, s.current])).toEqual([['Tablet/3.0', true]])
    for (const other of [laptop, phone]) {
      const refresh = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: other.refresh_token } })
      expect(refresh.json().code).toBe('session_revoked')
    }
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tablet.refresh_token } })).statusCode).toBe(200)
    expect(await t.store.listAudit({ type: 'session_revoked', limit: 10 })).toHaveLength(2)
  })

  it('signing out everywhere revokes the caller too', async () => {
    const { phone } = await threeDevices()
    const res = await t.inject({ method: 'DELETE', url: '/me/sessions', headers: bearer(phone.access_token) })
    expect(res.statusCode).toBe(204)
    const after = await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(phone.access_token) })
    expect(after.json().code).toBe('session_revoked')
    expect(await t.store.listAudit({ type: 'session_revoked', limit: 10 })).toHaveLength(3)
  })

  it("answers another user's session id and an unknown id with 404, and a malformed id with 400", async () => {
    const alice = await registerUser(t)
    const bob = await registerUser(t)
    const bobSession = (await listSessions(bob.access_token))[0]!.id

    const foreign = await t.inject({ method: 'DELETE', url: `/me/sessions/${bobSession}`, headers: bearer(alice.access_token) })
    expect(foreign.statusCode).toBe(404)
    expect(foreign.json().code).toBe('not_found')
    const unknown = await t.inject({ method: 'DELETE', url: `/me/sessions/${randomUUID()}`, headers: bearer(alice.access_token) })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.body.replace(/"instance":"[^"]*"/, '')).toBe(foreign.body.replace(/"instance":"[^"]*"/, ''))
    const malformed = await t.inject({ method: 'DELETE', url: '/me/sessions/not-a-uuid', headers: bearer(alice.access_token) })
    expect(malformed.statusCode).toBe(400)
    expect(malformed.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'id' }] })

    // Bob's session is untouched.
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: bob.refresh_token } })).statusCode).toBe(200)
  })

  it('refuses a bad keep_current with 400 and a missing token with 401', async () => {
    const { access_token } = await registerUser(t)
    const bad = await t.inject({ method: 'DELETE', url: '/me/sessions?keep_current=yes', headers: bearer(access_token) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().code).toBe('validation_failed')
    const anonymous = await t.inject({ method: 'GET', url: '/me/sessions' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.json().code).toBe('missing_token')
  })
})

describe('password change', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it('revokes the other sessions, keeps the caller, and retires the old password', async () => {
    const { email, access_token, refresh_token } = await registerUser(t)
    const other = await loginAs(t, email, 'Phone/2.0')

    const res = await t.inject({
      method: 'PUT',
      url: '/me/password',
      headers: bearer(access_token),
      payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    })
    expect(res.statusCode).toBe(204)

    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: other.refresh_token } })).json().code).toBe('session_revoked')
    expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(other.access_token) })).statusCode).toBe(401)
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })).statusCode).toBe(200)

    const old = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(old.statusCode).toBe(401)
    expect(old.json().code).toBe('invalid_credentials')
    expect((await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: NEW_PASSWORD } })).statusCode).toBe(200)

    const [changed] = await t.store.listAudit({ type: 'password_changed', limit: 10 })
    expect(changed).toMatchObject({ details: { revoked_sessions: 1 } })
    expect(JSON.stringify(await t.store.listAudit({ limit: 100 }))).not.toContain(NEW_PASSWORD)
  })

  it('refuses a wrong current password with 403 invalid_current_password and no Bearer challenge, so a client keeps its token', async () => {
    const { access_token } = await registerUser(t)
    const res = await t.inject({
      method: 'PUT',
      url: '/me/password',
      headers: bearer(access_token),
      payload: { current_password: 'not the password at all', new_password: NEW_PASSWORD },
    })
    expect(res.statusCode).toBe(403)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toMatchObject({ code: 'invalid_current_password', title: 'Current password is incorrect', status: 403 })
    expect(res.headers['www-authenticate']).toBeUndefined()
    expect(await t.store.listAudit({ type: 'password_change_failed', limit: 10 })).toHaveLength(1)
    // The token still works.
    expect((await t.inject({ method: 'GET', url: '/me/sessions', headers: bearer(access_token) })).statusCode).toBe(200)
  })

  it('applies the password rules to the new password (422 weak_password)', async () => {
    const { access_token } = await registerUser(t)
    for (const new_password of ['short', 'password1234', PASSWORD]) {
      const res = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { current_password: PASSWORD, new_password } })
      expect(res.statusCode).toBe(422)
      expect(res.json()).toMatchObject({ code: 'weak_password', errors: [{ field: 'new_password' }] })
    }
    const missing = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { new_password: NEW_PASSWORD } })
    expect(missing.statusCode).toBe(400)
  })

  it('is refused for a revoked session', async () => {
    const { access_token, refresh_token } = await registerUser(t)
    await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token } })
    const res = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { current_password: PASSWORD, new_password: NEW_PASSWORD } })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('session_revoked')
  })
})
