import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { bearer, createTestApp, PASSWORD, uniqueEmail, type TestApp } from '../helpers/app.ts'

const SPA = 'http://localhost:5173'
const FOREIGN = 'http://localhost:6666'
const COOKIE = 'latchkey_refresh'
const browser = (origin = SPA) => ({ origin, 'x-latchkey-refresh': 'cookie' })

interface Cookie {
  name: string
  value: string
  maxAge?: number
  path?: string
  domain?: string
  httpOnly?: boolean
  secure?: boolean
  sameSite?: string
  expires?: Date
}
const refreshCookieOf = (res: { cookies: unknown[] }, name = COOKIE) => (res.cookies as Cookie[]).find((c) => c.name === name)

async function signInWithCookie(t: TestApp) {
  const email = uniqueEmail()
  const res = await t.inject({ method: 'POST', url: '/auth/register', headers: browser(), payload: { email, password: PASSWORD } })
  expect(res.statusCode).toBe(201)
  const cookie = refreshCookieOf(res)
  if (!cookie) throw new Error('no refresh cookie set')
  return { email, access: res.json().access_token as string, cookie: cookie.value }
}

const auditTypes = async (t: TestApp) => (await t.store.listAudit({ limit: 50 })).map((e) => e.type)

describe('cookie mode (X-Latchkey-Refresh: cookie)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: `${SPA}/` } })
  })
  afterEach(() => t.close())

  it('login sets the refresh token as an HttpOnly, Secure, SameSite=Strict cookie on /auth and leaves it out of the body', async () => {
    const { email } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/login', headers: browser(), payload: { email, password: PASSWORD } })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).not.toHaveProperty('refresh_token')
    expect(body).toMatchObject({ token_type: 'Bearer', refresh_expires_in: 30 * 86400 })
    expect(res.body).not.toContain('lkr_')
    const cookie = refreshCookieOf(res)!
    expect(cookie.value).toMatch(/^lkr_[A-Za-z0-9_-]{43}$/)
    expect(cookie).toMatchObject({ path: '/auth', httpOnly: true, secure: true, sameSite: 'Strict', maxAge: 30 * 86400 })
    expect(cookie.domain).toBeUndefined()
  })

  it('register in cookie mode answers 201 with the cookie and no refresh token in the body', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/register', headers: browser(), payload: { email: uniqueEmail(), password: PASSWORD } })
    expect(res.statusCode).toBe(201)
    expect(res.json()).not.toHaveProperty('refresh_token')
    expect(refreshCookieOf(res)?.httpOnly).toBe(true)
  })

  it('body mode is unchanged: no cookie, refresh token in the body', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } })
    expect(res.headers['set-cookie']).toBeUndefined()
    expect(res.json().refresh_token).toMatch(/^lkr_/)
  })

  it('refresh reads the cookie, rotates it, and reusing the old cookie after the grace window revokes the session', async () => {
    const { cookie } = await signInWithCookie(t)
    t.clock.advance(60_000)
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).not.toHaveProperty('refresh_token')
    const rotated = refreshCookieOf(res)!
    expect(rotated.value).not.toBe(cookie)
    expect(rotated.maxAge).toBe(30 * 86400)

    t.clock.advance(60_000)
    const reused = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })
    expect(reused.statusCode).toBe(401)
    expect(reused.json().code).toBe('refresh_token_reused')
    // The dead session's cookie is dropped so the browser stops sending it.
    expect(refreshCookieOf(reused)).toMatchObject({ value: '', maxAge: 0, path: '/auth' })
    const after = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: rotated.value } })
    expect(after.json().code).toBe('session_revoked')
  })

  it('two refreshes with the same cookie inside the grace window both succeed with the same new cookie', async () => {
    const { cookie } = await signInWithCookie(t)
    const [a, b] = await Promise.all(
      [0, 1].map(() => t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })),
    )
    expect([a!.statusCode, b!.statusCode]).toEqual([200, 200])
    expect(refreshCookieOf(a!)!.value).toBe(refreshCookieOf(b!)!.value)
    expect(await auditTypes(t)).not.toContain('refresh_reuse_detected')
  })

  it('a cookie-mode refresh without a cookie is 401 invalid_refresh_token (not signed in)', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser() })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('invalid_refresh_token')
  })

  it('a body token in cookie mode is accepted and its successor delivered as the cookie', async () => {
    const reg = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } })
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), payload: { refresh_token: reg.json().refresh_token } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).not.toHaveProperty('refresh_token')
    expect(refreshCookieOf(res)?.value).toMatch(/^lkr_/)
  })

  it('logout revokes the cookie session and clears the cookie', async () => {
    const { cookie } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/logout', headers: browser(), cookies: { [COOKIE]: cookie } })
    expect(res.statusCode).toBe(204)
    const cleared = refreshCookieOf(res)!
    expect(cleared).toMatchObject({ value: '', maxAge: 0, path: '/auth', httpOnly: true, secure: true, sameSite: 'Strict' })
    expect(cleared.expires?.getTime()).toBe(0)
    const after = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })
    expect(after.json().code).toBe('session_revoked')
    expect(await auditTypes(t)).toContain('logout')
  })

  it('never logs the refresh cookie, on the way in or out', async () => {
    const { cookie } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })
    const logs = t.logs.join('')
    expect(logs).toContain('/auth/refresh')
    for (const secret of [cookie, refreshCookieOf(res)!.value]) expect(logs).not.toContain(secret)
  })

  it('logout in cookie mode without a cookie is still a 204 that clears it', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/logout', headers: browser() })
    expect(res.statusCode).toBe(204)
    expect(refreshCookieOf(res)?.maxAge).toBe(0)
  })

  it('refuses any other value of X-Latchkey-Refresh with 400', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/login', headers: { ...browser(), 'x-latchkey-refresh': 'body' }, payload: { email: uniqueEmail(), password: PASSWORD } })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toEqual([{ field: 'x-latchkey-refresh', message: 'must be "cookie"' }])
  })

  it('a body-mode refresh with no token and no cookie is still 400 validation_failed', async () => {
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', payload: {} })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('validation_failed')
  })
})

describe('CSRF defence on requests that use the refresh cookie', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: SPA } })
  })
  afterEach(() => t.close())

  async function expectRejected(res: { statusCode: number; json(): { code: string } }, reason: string) {
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('csrf_rejected')
    const [event] = await t.store.listAudit({ type: 'csrf_rejected', limit: 1 })
    expect(event?.details.reason).toBe(reason)
  }

  it('refuses a refresh that sends the cookie without the custom header, audits it and leaves the session alone', async () => {
    const { cookie } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: { origin: SPA }, cookies: { [COOKIE]: cookie } })
    await expectRejected(res, 'missing_header')
    expect(res.headers['set-cookie']).toBeUndefined()
    const ok = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })
    expect(ok.statusCode).toBe(200)
  })

  it('refuses a cookie refresh from an origin outside CORS_ORIGINS', async () => {
    const { cookie } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(FOREIGN), cookies: { [COOKIE]: cookie } })
    await expectRejected(res, 'origin_not_allowed')
    const [event] = await t.store.listAudit({ type: 'csrf_rejected', limit: 1 })
    expect(event?.details).toMatchObject({ origin: FOREIGN, path: '/auth/refresh' })
  })

  it('refuses a cookie logout from a foreign origin and the session survives', async () => {
    const { cookie } = await signInWithCookie(t)
    const res = await t.inject({ method: 'POST', url: '/auth/logout', headers: browser(FOREIGN), cookies: { [COOKIE]: cookie } })
    await expectRejected(res, 'origin_not_allowed')
    const forged = await t.inject({ method: 'POST', url: '/auth/logout', headers: { origin: FOREIGN }, cookies: { [COOKIE]: cookie } })
    await expectRejected(forged, 'missing_header')
    expect(await auditTypes(t)).not.toContain('logout')
    expect((await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { [COOKIE]: cookie } })).statusCode).toBe(200)
  })

  it('refuses cookie mode with neither Origin nor Referer, and with Origin: null', async () => {
    const { cookie } = await signInWithCookie(t)
    const none = await t.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-latchkey-refresh': 'cookie' }, cookies: { [COOKIE]: cookie } })
    await expectRejected(none, 'missing_origin')
    const opaque = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser('null'), cookies: { [COOKIE]: cookie } })
    await expectRejected(opaque, 'missing_origin')
  })

  it("falls back to the Referer's origin when Origin is absent", async () => {
    const { cookie } = await signInWithCookie(t)
    const ok = await t.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-latchkey-refresh': 'cookie', referer: `${SPA}/account?tab=1` }, cookies: { [COOKIE]: cookie } })
    expect(ok.statusCode).toBe(200)
    const bad = await t.inject({ method: 'POST', url: '/auth/logout', headers: { 'x-latchkey-refresh': 'cookie', referer: `${FOREIGN}/x` }, cookies: { [COOKIE]: refreshCookieOf(ok)!.value } })
    await expectRejected(bad, 'origin_not_allowed')
  })

  it('refuses cookie-mode login and register from a foreign origin (login CSRF) before touching the account', async () => {
    const email = uniqueEmail()
    const reg = await t.inject({ method: 'POST', url: '/auth/register', headers: browser(FOREIGN), payload: { email, password: PASSWORD } })
    await expectRejected(reg, 'origin_not_allowed')
    expect(await t.store.findUserByEmail(email)).toBeNull()
    await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } })
    const login = await t.inject({ method: 'POST', url: '/auth/login', headers: browser(FOREIGN), payload: { email, password: PASSWORD } })
    await expectRejected(login, 'origin_not_allowed')
    expect(await auditTypes(t)).not.toContain('login_succeeded')
  })

  it('body-mode requests need no Origin: native clients keep working', async () => {
    const reg = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } })
    const res = await t.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: reg.json().refresh_token } })
    expect(res.statusCode).toBe(200)
  })

  it('with no CORS_ORIGINS configured, cookie mode is refused for every origin', async () => {
    const closed = await createTestApp()
    try {
      const res = await closed.inject({ method: 'POST', url: '/auth/register', headers: browser(), payload: { email: uniqueEmail(), password: PASSWORD } })
      expect(res.statusCode).toBe(403)
      expect(res.json().code).toBe('csrf_rejected')
    } finally {
      await closed.close()
    }
  })
})

describe('CORS', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: `${SPA}, https://app.example.com`, CORS_MAX_AGE: '900' } })
  })
  afterEach(() => t.close())

  // Preflights are CORS protocol, not API operations, so they bypass the contract check (t.app.inject).
  const preflight = (origin: string, method = 'POST', headers = 'content-type,x-latchkey-refresh') =>
    t.app.inject({ method: 'OPTIONS', url: '/auth/refresh', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } })

  it('answers a preflight from an allowed origin with credentials, the custom header and a cached max-age', async () => {
    const res = await preflight(SPA)
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe(SPA)
    expect(res.headers['access-control-allow-credentials']).toBe('true')
    expect(res.headers['access-control-max-age']).toBe('900')
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/)
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-latchkey-refresh']))
    expect(String(res.headers['access-control-allow-methods'])).toContain('DELETE')
    expect(String(res.headers.vary)).toMatch(/origin/i)
  })

  it('answers a plain OPTIONS (no Origin) with an empty 204 that grants no origin, not a text/plain error', async () => {
    const res = await t.app.inject({ method: 'OPTIONS', url: '/me' })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('gives a foreign origin no Access-Control-Allow-Origin, so the browser blocks the request', async () => {
    const res = await preflight(FOREIGN)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('lets an allowed page read responses, 401s included, with WWW-Authenticate, Retry-After and X-Request-Id exposed', async () => {
    const res = await t.inject({ method: 'GET', url: '/me', headers: { origin: 'https://app.example.com' } })
    expect(res.statusCode).toBe(401)
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com')
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)
    expect(exposed).toEqual(expect.arrayContaining(['www-authenticate', 'retry-after', 'x-request-id']))
  })

  it('a bearer call from an allowed origin works; the same call from a foreign origin carries no CORS grant', async () => {
    const reg = await t.inject({ method: 'POST', url: '/auth/register', payload: { email: uniqueEmail(), password: PASSWORD } })
    const token = reg.json().access_token as string
    const ok = await t.inject({ method: 'GET', url: '/me', headers: { origin: SPA, ...bearer(token) } })
    expect(ok.headers['access-control-allow-origin']).toBe(SPA)
    const foreign = await t.inject({ method: 'GET', url: '/me', headers: { origin: FOREIGN, ...bearer(token) } })
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('CORS with no origin configured (the default)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
  })
  afterEach(() => t.close())

  it('shares nothing cross-origin: no CORS headers on responses, and a preflight grants no origin', async () => {
    const res = await t.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { origin: SPA } })
    expect(res.statusCode).toBe(200)
    for (const name of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'vary']) {
      expect(res.headers[name], name).toBeUndefined()
    }
    const preflight = await t.app.inject({ method: 'OPTIONS', url: '/auth/refresh', headers: { origin: SPA, 'access-control-request-method': 'POST' } })
    expect(preflight.statusCode).toBeGreaterThanOrEqual(400)
    expect(preflight.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('refresh cookie configuration', () => {
  it('honours REFRESH_COOKIE_NAME, REFRESH_COOKIE_DOMAIN and caps Max-Age at REFRESH_COOKIE_MAX_AGE', async () => {
    const t = await createTestApp({
      env: { CORS_ORIGINS: SPA, REFRESH_COOKIE_NAME: 'acme_rt', REFRESH_COOKIE_DOMAIN: 'localhost', REFRESH_COOKIE_MAX_AGE: '3600' },
    })
    try {
      const res = await t.inject({ method: 'POST', url: '/auth/register', headers: browser(), payload: { email: uniqueEmail(), password: PASSWORD } })
      const cookie = refreshCookieOf(res, 'acme_rt')!
      expect(cookie).toMatchObject({ domain: 'localhost', maxAge: 3600, path: '/auth' })
      const refreshed = await t.inject({ method: 'POST', url: '/auth/refresh', headers: browser(), cookies: { acme_rt: cookie.value } })
      expect(refreshed.statusCode).toBe(200)
    } finally {
      await t.close()
    }
  })

  it('never lets the cookie outlive the session', async () => {
    const t = await createTestApp({ env: { CORS_ORIGINS: SPA, REFRESH_IDLE_TTL: '600', REFRESH_ABSOLUTE_TTL: '900', REFRESH_COOKIE_MAX_AGE: '86400' } })
    try {
      const res = await t.inject({ method: 'POST', url: '/auth/register', headers: browser(), payload: { email: uniqueEmail(), password: PASSWORD } })
      expect(refreshCookieOf(res)?.maxAge).toBe(600)
    } finally {
      await t.close()
    }
  })

  it('rejects unusable cookie names and normalises CORS_ORIGINS to bare origins', () => {
    expect(() => loadConfig({ REFRESH_COOKIE_NAME: '__Host-refresh' })).toThrow(/REFRESH_COOKIE_NAME.*__Host-/)
    expect(() => loadConfig({ REFRESH_COOKIE_NAME: 'bad name;' })).toThrow(/REFRESH_COOKIE_NAME/)
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/)
    expect(loadConfig({ CORS_ORIGINS: 'https://App.example.com:443/, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ])
  })
})
