import { createLatchkeyClient, LatchkeyError, memoryStorage, refreshDelayMs, type AuthEvent, type RefreshTokenStorage } from '@latchkey/client'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, registerUser, uniqueEmail, type TestApp } from '../helpers/app.ts'
import { createManualClock, injectFetch, type InjectFetchOptions } from './harness.ts'

const BASE = 'http://latchkey.test'
const apps: TestApp[] = []
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close()
})

async function setup(options: InjectFetchOptions & { env?: Record<string, string>; random?: number; storage?: RefreshTokenStorage } = {}) {
  const t = await createTestApp({ env: { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn', ...options.env } })
  apps.push(t)
  const http = injectFetch(t, options)
  const clock = createManualClock(t, http.busy)
  const storage = options.storage ?? memoryStorage()
  const client = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage, fetch: http.fetch, clock, random: () => options.random ?? 0.5, tabs: false })
  const events: AuthEvent[] = []
  client.onAuthStateChange((event) => events.push(event))
  const email = uniqueEmail()
  await registerUser(t, email)
  return { t, clock, http, storage, client, events, email }
}

const refreshes = (paths: string[]) => paths.filter((p) => p.startsWith('POST /auth/refresh'))

describe('refresh scheduling (fixed clock)', () => {
  it('refreshes ahead of expiry by the margin plus jitter, never before half the lifetime', () => {
    expect(refreshDelayMs(600, { marginSeconds: 60, jitterSeconds: 10, random: () => 0 })).toBe(540_000)
    expect(refreshDelayMs(600, { marginSeconds: 60, jitterSeconds: 10, random: () => 0.5 })).toBe(535_000)
    expect(refreshDelayMs(600, { marginSeconds: 60, jitterSeconds: 10, random: () => 0.999 })).toBe(530_010)
    expect(refreshDelayMs(60, { marginSeconds: 60, jitterSeconds: 10, random: () => 0.5 })).toBe(30_000)
  })

  it('rotates the refresh token on its own at 535 s of a 600 s token, and again 535 s later', async () => {
    const { client, clock, http, events, email, storage } = await setup()
    await client.signIn(email, PASSWORD)
    const first = await storage.getItem('latchkey.refresh_token')
    await clock.advance(534_999)
    expect(refreshes(http.paths())).toEqual([])
    await clock.advance(1)
    expect(refreshes(http.paths())).toEqual(['POST /auth/refresh 200'])
    expect(await storage.getItem('latchkey.refresh_token')).not.toBe(first)
    await clock.advance(535_000)
    expect(refreshes(http.paths())).toHaveLength(2)
    expect(events).toEqual(['signed_in', 'token_refreshed', 'token_refreshed'])
    // The access token it holds is accepted by the server at the server's (same) time.
    expect((await client.me()).email).toBe(email)
  })

  it('a short access-token lifetime is refreshed at half-life', async () => {
    const { client, clock, http, email } = await setup({ env: { ACCESS_TOKEN_TTL: '60' } })
    await client.signIn(email, PASSWORD)
    await clock.advance(29_999)
    expect(refreshes(http.paths())).toEqual([])
    await clock.advance(1)
    expect(refreshes(http.paths())).toEqual(['POST /auth/refresh 200'])
  })
})

describe('events', () => {
  it('come in order: signed_in, token_refreshed, signed_out; the session is null after sign-out', async () => {
    const { client, events, email, storage } = await setup()
    const seen: Array<[AuthEvent, boolean]> = []
    client.onAuthStateChange((event, session) => seen.push([event, session !== null]))
    await client.signIn(email, PASSWORD)
    await client.refresh()
    await client.signOut()
    expect(events).toEqual(['signed_in', 'token_refreshed', 'signed_out'])
    expect(seen).toEqual([['signed_in', true], ['token_refreshed', true], ['signed_out', false]])
    expect(client.session).toBeNull()
    expect(await storage.getItem('latchkey.refresh_token')).toBeNull()
  })

  it('a refresh refused for good (revoked session) ends it with session_expired, not signed_out', async () => {
    const { client, events, email, t } = await setup()
    await client.signIn(email, PASSWORD)
    const other = await createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: injectFetch(t).fetch, tabs: false })
    await other.signIn(email, PASSWORD)
    await other.signOut({ scope: 'others' })
    const err = await client.refresh().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LatchkeyError)
    expect((err as LatchkeyError).code).toBe('session_revoked')
    expect(events).toEqual(['signed_in', 'session_expired'])
    expect(client.session).toBeNull()
    expect(other.session).not.toBeNull()
    other.close()
  })

  it('a listener that throws does not stop the others', async () => {
    const { client, email } = await setup()
    const after: AuthEvent[] = []
    client.onAuthStateChange(() => {
      throw new Error('app bug')
    })
    client.onAuthStateChange((event) => after.push(event))
    await client.signIn(email, PASSWORD)
    expect(after).toEqual(['signed_in'])
  })
})

describe('retries of a lost refresh response', () => {
  it('retries with the same token inside the grace window and gets the same rotation: no reuse, the session lives on', async () => {
    let lost = 0
    const { client, clock, http, events, email, t } = await setup({ lose: (c) => c.path === '/auth/refresh' && lost++ === 0 })
    await client.signIn(email, PASSWORD)
    const pending = client.refresh()
    await clock.advance(250)
    await pending
    expect(refreshes(http.paths())).toEqual(['POST /auth/refresh lost', 'POST /auth/refresh 200'])
    const audit = await t.store.listAudit({ type: 'refresh', limit: 10 })
    expect(audit.filter((e) => e.details.grace_retry)).toHaveLength(1)
    expect(await t.store.listAudit({ type: 'refresh_reuse_detected', limit: 10 })).toEqual([])
    // The token the retry stored is the live one: the next rotation works.
    await client.refresh()
    expect(events).toEqual(['signed_in', 'token_refreshed', 'token_refreshed'])
  })

  it('stops before the grace window closes, keeps the session and reports network_error', async () => {
    const { client, clock, http, events, email } = await setup({ env: { REFRESH_GRACE_PERIOD: '3' }, lose: (c) => c.path === '/auth/refresh' })
    const short = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, clock, refreshGraceSeconds: 3, tabs: false })
    await short.signIn(email, PASSWORD)
    const outcome = short.refresh().catch((e: unknown) => e)
    await clock.advance(5_000)
    const err = await outcome
    expect((err as LatchkeyError).code).toBe('network_error')
    // Attempts at 0, 0.25 s and 1.25 s; a fourth at 3.25 s would land outside the 3 s window.
    expect(refreshes(http.paths())).toEqual(['POST /auth/refresh lost', 'POST /auth/refresh lost', 'POST /auth/refresh lost'])
    expect(short.session).not.toBeNull()
    expect(events).toEqual([])
    short.close()
    client.close()
  })

  it('a scheduled refresh that failed transiently is tried again later', async () => {
    let down = true
    const { client, clock, http, email } = await setup({ refuse: (c) => down && c.path === '/auth/refresh' })
    await client.signIn(email, PASSWORD)
    await clock.advance(535_000 + 7_000)
    expect(refreshes(http.paths())).toHaveLength(5)
    expect(refreshes(http.paths()).every((p) => p.endsWith('refused'))).toBe(true)
    down = false
    await clock.advance(20_000)
    expect(refreshes(http.paths()).at(-1)).toBe('POST /auth/refresh 200')
    expect(client.session!.expiresAt).toBeGreaterThan(clock.now() + 500_000)
  })
})

describe('authFetch', () => {
  it('on token_expired refreshes once and repeats the call', async () => {
    const { http, email, t } = await setup()
    // The server's clock runs ahead of the client's: the token the client thinks fresh is expired.
    const frozen = t.clock.now()
    const client = createLatchkeyClient({ baseUrl: BASE, mode: 'body', storage: memoryStorage(), fetch: http.fetch, tabs: false, clock: { now: () => frozen, setTimeout: () => 0, clearTimeout: () => {} } })
    const events: AuthEvent[] = []
    client.onAuthStateChange((event) => events.push(event))
    await client.signIn(email, PASSWORD)
    t.clock.advance(700_000) // past expiry and the 30 s clock tolerance
    const res = await client.authFetch('/me')
    expect(res.status).toBe(200)
    expect(http.paths().slice(-3)).toEqual(['GET /me 401', 'POST /auth/refresh 200', 'GET /me 200'])
    expect(events).toEqual(['signed_in', 'token_refreshed'])
  })

  it('refreshes first when its own clock says the token has expired', async () => {
    const { client, clock, http, email } = await setup()
    await client.signIn(email, PASSWORD)
    client.close() // no timer: only authFetch can notice
    await clock.advance(600_000)
    expect((await client.authFetch('/me')).status).toBe(200)
    expect(http.paths().slice(-2)).toEqual(['POST /auth/refresh 200', 'GET /me 200'])
  })

  it('never refreshes on other 401s or 403s; session_revoked ends the session', async () => {
    const { client, http, email, t, events } = await setup()
    await client.signIn(email, PASSWORD)
    expect((await client.authFetch('/admin/users')).status).toBe(403)
    const bad = await client.authFetch('/me', { headers: { Authorization: 'Bearer x' } })
    expect(bad.status).toBe(200) // the client's own token wins over a caller's header
    const tokens = await registerUser(t)
    await t.inject({ method: 'DELETE', url: '/me/sessions', headers: { authorization: `Bearer ${client.session!.accessToken}` } })
    expect((await client.authFetch('/me/sessions')).status).toBe(401)
    expect(refreshes(http.paths())).toEqual([])
    expect(events).toEqual(['signed_in', 'session_expired'])
    expect(tokens.access_token).toBeTruthy()
  })

  it('concurrent calls across an expired token share one refresh', async () => {
    const { client, clock, http, email } = await setup()
    await client.signIn(email, PASSWORD)
    client.close()
    await clock.advance(600_000)
    const results = await Promise.all([client.authFetch('/me'), client.authFetch('/me/claims'), client.refresh()])
    expect(results.slice(0, 2).map((r) => (r as Response).status)).toEqual([200, 200])
    expect(refreshes(http.paths())).toEqual(['POST /auth/refresh 200'])
  })

  it('sends the token type the server issued as the Authorization scheme', async () => {
    const { client, email, http } = await setup()
    const seen: string[] = []
    const spy = createLatchkeyClient({
      baseUrl: BASE,
      mode: 'body',
      storage: memoryStorage(),
      tabs: false,
      fetch: async (input, init) => {
        const auth = new Headers(init?.headers).get('authorization')
        if (auth) seen.push(auth.split(' ')[0]!)
        return http.fetch(input, init)
      },
    })
    await spy.signIn(email, PASSWORD)
    await spy.me()
    expect(seen).toEqual([spy.session!.tokenType])
    expect(spy.session!.tokenType).toMatch(/^(Bearer|DPoP)$/)
    spy.close()
    client.close()
  })
})
