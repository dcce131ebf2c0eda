import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { assertMatchesContract } from '../helpers/contract.ts'
import { BARE_CHALLENGE, bearer, createTestApp, registerUser, type TestApp } from '../helpers/app.ts'

const refresh = (t: TestApp, refresh_token: string) => t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })

describe('refresh-token rotation', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it('50 concurrent refreshes of one token over real HTTP yield exactly one new token', async () => {
    // Rate limiting would (rightly) answer some of 50 refreshes of one token with 429: this test is about atomicity.
    await t.close()
    t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false' } })
    const { refresh_token } = await registerUser(t)
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    const responses = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(`${base}/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token }),
        })
        const body = await res.text()
        assertMatchesContract({ method: 'POST', url: '/auth/refresh', status: res.status, headers: Object.fromEntries(res.headers), body })
        return { status: res.status, body: JSON.parse(body) as { refresh_token: string; access_token: string } }
      }),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    const newTokens = new Set(responses.map((r) => r.body.refresh_token))
    expect(newTokens.size).toBe(1)
    const [child] = newTokens
    expect(child).not.toBe(refresh_token)
    // Every access token works, and the one new refresh token is live.
    for (const r of responses.slice(0, 3)) {
      expect((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(r.body.access_token) })).statusCode).toBe(200)
    }
    expect((await refresh(t, child!)).statusCode).toBe(200)
  })

  it('a retry with the parent inside the grace window gets the same new token', async () => {
    const { refresh_token } = await registerUser(t)
    const first = (await refresh(t, refresh_token)).json()
    t.clock.advance(9_000)
    const retry = await refresh(t, refresh_token)
    expect(retry.statusCode).toBe(200)
    expect(retry.json().refresh_token).toBe(first.refresh_token)
    // and the session was not harmed: the child rotates normally
    expect((await refresh(t, first.refresh_token)).statusCode).toBe(200)
  })

  it('reuse of a rotated token after the grace window revokes the session; the child stops working', async () => {
    const { refresh_token, access_token } = await registerUser(t)
    const child = (await refresh(t, refresh_token)).json().refresh_token as string
    t.clock.advance(10_001)
    const reuse = await refresh(t, refresh_token)
    expect(reuse.statusCode).toBe(401)
    expect(reuse.json().code).toBe('refresh_token_reused')
    expect(reuse.headers['www-authenticate']).toBe(BARE_CHALLENGE)

    const childAfter = await refresh(t, child)
    expect(childAfter.statusCode).toBe(401)
    expect(childAfter.json().code).toBe('session_revoked')

    const events = await t.store.listAudit({ type: 'refresh_reuse_detected', limit: 5 })
    expect(events).toHaveLength(1)
    expect(events[0]?.sessionId).toBe((await t.inject({ method: 'GET', url: '/me/claims', headers: bearer(access_token) })).json().sid)
  })

  it('a grandparent replayed inside the grace window is reuse, not a retry', async () => {
    const { refresh_token } = await registerUser(t)
    const child = (await refresh(t, refresh_token)).json().refresh_token as string
    t.clock.advance(1000)
    expect((await refresh(t, child)).statusCode).toBe(200)
    expect((await refresh(t, refresh_token)).json().code).toBe('refresh_token_reused')
  })

  it('an idle session expires; use keeps it alive until the absolute lifetime', async () => {
    const idle = await createTestApp({ env: { REFRESH_IDLE_TTL: '3600', REFRESH_ABSOLUTE_TTL: '7200' } })
    try {
      const a = await registerUser(idle)
      idle.clock.advance(3600_000)
      const expired = await refresh(idle, a.refresh_token)
      expect(expired.statusCode).toBe(401)
      expect(expired.json().code).toBe('invalid_refresh_token')

      let token = (await registerUser(idle)).refresh_token
      for (let i = 0; i < 3; i++) {
        idle.clock.advance(1800_000)
        const res = await refresh(idle, token)
        expect(res.statusCode).toBe(200)
        token = res.json().refresh_token
        expect(res.json().refresh_expires_in).toBeLessThanOrEqual(3600)
      }
      idle.clock.advance(1800_000) // now past the absolute lifetime of 2 h
      expect((await refresh(idle, token)).json().code).toBe('invalid_refresh_token')
    } finally {
      await idle.close()
    }
  })

  it('refuses malformed and unknown refresh tokens with 401 invalid_refresh_token', async () => {
    for (const token of ['nope', `lkr_${'A'.repeat(43)}`, 'lkr_' + 'é'.repeat(43)]) {
      const res = await refresh(t, token)
      expect(res.statusCode).toBe(401)
      expect(res.json().code).toBe('invalid_refresh_token')
    }
  })

  it('refuses a refresh of a disabled account with 403 account_disabled', async () => {
    const { refresh_token, email } = await registerUser(t)
    const user = await t.store.findUserByEmail(email)
    await t.store.setUserDisabled(user!.id, t.clock.now())
    const res = await refresh(t, refresh_token)
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('account_disabled')
  })
})
