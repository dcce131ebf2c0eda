import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { BARE_CHALLENGE, bearer, createTestApp, PASSWORD, registerUser, T0, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { sharedTestKey } from '../helpers/keys.ts'
import { forgeRs256 } from '../helpers/tokens.ts'

const AUTH_ROUTES = ['/auth/register', '/auth/login', '/auth/refresh', '/auth/logout']

describe('every documented error of the public routes', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('each auth route answers 400, 413 and 415 problems', async () => {
    for (const url of AUTH_ROUTES) {
      const bad = await t.inject({ method: 'POST', url, payload: { unexpected: true } })
      expect(bad.statusCode, url).toBe(400)
      expect(bad.json().code).toBe('validation_failed')
      const big = await t.inject({ method: 'POST', url, payload: { refresh_token: 'x'.repeat(20_000) } })
      expect(big.statusCode, url).toBe(413)
      const text = await t.inject({ method: 'POST', url, payload: 'hello', headers: { 'content-type': 'text/plain' } })
      expect(text.statusCode, url).toBe(415)
    }
  })

  it('login of a disabled account is 403 account_disabled, after the password is checked', async () => {
    const { email } = await registerUser(t)
    const user = await t.store.findUserByEmail(email)
    await t.store.setUserDisabled(user!.id, T0)
    const wrong = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'not the right password' } })
    expect(wrong.statusCode).toBe(401)
    const right = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
    expect(right.statusCode).toBe(403)
    expect(right.json().code).toBe('account_disabled')
    expect(right.headers['www-authenticate']).toBe(BARE_CHALLENGE)
  })

  it('GET /me for a valid token whose user no longer exists is 404', async () => {
    const key = await sharedTestKey()
    const now = T0 / 1000
    const token = forgeRs256(
      { alg: 'RS256', typ: 'at+jwt', kid: key.kid },
      { iss: t.config.issuer, aud: t.config.audience, sub: randomUUID(), sid: randomUUID(), jti: randomUUID(), scope: 'user', iat: now, nbf: now, exp: now + 600 },
      key.privateKey,
    )
    const res = await t.inject({ method: 'GET', url: '/me', headers: bearer(token) })
    expect(res.statusCode).toBe(404)
    expect(res.json().code).toBe('not_found')
  })

  it('serves openapi.yaml', async () => {
    const res = await t.inject({ method: 'GET', url: '/openapi.yaml' })
    expect(res.statusCode).toBe(200)
    expect(res.body).toMatch(/^openapi: 3\.1\.0/)
  })
})

describe('password hashing overload sheds load with 503 server_busy', () => {
  it('register and login beyond the queue answer 503 with Retry-After instead of stalling', async () => {
    const passwords = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 1, queueLimit: 0 })
    const t = await createTestApp({ deps: { passwords } })
    try {
      const { email } = await registerUser(t)
      // One hash at a time and no queue: while the one slot is busy, every request is shed at once.
      for (const send of [
        () => t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } }),
        () => t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } }),
      ]) {
        let release!: () => void
        const busy = passwords.queue.run(() => new Promise<void>((resolve) => (release = resolve)))
        const burst = await Promise.all([send(), send(), send()])
        for (const r of burst) {
          expect(r.statusCode).toBe(503)
          expect(r.json().code).toBe('server_busy')
          expect(r.headers['retry-after']).toBe('1')
        }
        release()
        await busy
        expect([200, 201]).toContain((await send()).statusCode)
      }
    } finally {
      await t.close()
    }
  })
})

describe('every documented error of the account and admin routes', () => {
  it('PUT /me/password answers 413, 415 and 503 server_busy problems', async () => {
    const passwords = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 1, queueLimit: 0 })
    const t = await createTestApp({ deps: { passwords } })
    try {
      const { access_token } = await registerUser(t)
      const big = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { current_password: 'x'.repeat(20_000), new_password: 'y' } })
      expect(big.statusCode).toBe(413)
      const text = await t.inject({ method: 'PUT', url: '/me/password', headers: { ...bearer(access_token), 'content-type': 'text/plain' }, payload: 'x' })
      expect(text.statusCode).toBe(415)
      const change = () => t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { current_password: PASSWORD, new_password: 'another fine passphrase' } })
      let release!: () => void
      const held = passwords.queue.run(() => new Promise<void>((resolve) => (release = resolve)))
      const busy = await change()
      expect(busy.statusCode).toBe(503)
      expect(busy.json().code).toBe('server_busy')
      release()
      await held
    } finally {
      await t.close()
    }
  })

  it('admin disable of a malformed id is 400; enable of an unknown id is 404', async () => {
    const { createAdmin } = await import('../helpers/app.ts')
    const t = await createTestApp()
    try {
      const admin = await createAdmin(t)
      const bad = await t.inject({ method: 'POST', url: '/admin/users/not-a-uuid/disable', headers: bearer(admin.access_token) })
      expect(bad.statusCode).toBe(400)
      expect(bad.json().code).toBe('validation_failed')
      const unknown = await t.inject({ method: 'POST', url: `/admin/users/${randomUUID()}/enable`, headers: bearer(admin.access_token) })
      expect(unknown.statusCode).toBe(404)
      expect(unknown.json().code).toBe('not_found')
    } finally {
      await t.close()
    }
  })
})

describe('rate limits on the account routes', () => {
  it('PUT /me/password is limited per account: the sixth attempt in a minute is 429 with Retry-After', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_PASSWORD_PER_ACCOUNT: '5' } })
    try {
      const { access_token } = await registerUser(t)
      const statuses: number[] = []
      for (let i = 0; i < 6; i++) {
        const res = await t.inject({ method: 'PUT', url: '/me/password', headers: bearer(access_token), payload: { current_password: `guess number ${i}!!`, new_password: 'another fine passphrase' } })
        statuses.push(res.statusCode)
        if (res.statusCode === 429) {
          expect(res.json().code).toBe('rate_limited')
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
        }
      }
      expect(statuses).toEqual([403, 403, 403, 403, 403, 429])
    } finally {
      await t.close()
    }
  })
})

describe('a login racing an account disable', () => {
  it('never leaves a live session for an account disabled while its password was being checked', async () => {
    const real = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 10 })
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let holding = false
    // The real hasher, with one verify held open until the disable has run.
    const passwords = { ...real, verify: async (hash: string, password: string) => {
      const result = await real.verify(hash, password)
      if (holding) await held
      return result
    } }
    const t = await createTestApp({ deps: { passwords } })
    try {
      const { email } = await registerUser(t)
      const user = (await t.store.findUserByEmail(email))!
      holding = true
      const login = t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } })
      await new Promise((r) => setTimeout(r, 50))
      await t.store.setUserDisabled(user.id, T0)
      await t.store.revokeUserSessions(user.id, 'account_disabled', T0)
      release()
      const res = await login
      expect(res.statusCode).toBe(403)
      expect(res.json().code).toBe('account_disabled')
      expect(await t.store.listActiveSessions(user.id, T0)).toEqual([])
    } finally {
      await t.close()
    }
  })
})

describe('logout is rate-limited like refresh', () => {
  it('answers 429 with Retry-After past the per-IP limit', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_REFRESH_PER_IP: '2' } })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        const res = await t.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: `lkr_${'A'.repeat(43)}` } })
        statuses.push(res.statusCode)
        if (res.statusCode === 429) expect(res.headers['retry-after']).toBeDefined()
      }
      expect(statuses).toEqual([204, 204, 429])
    } finally {
      await t.close()
    }
  })
})
