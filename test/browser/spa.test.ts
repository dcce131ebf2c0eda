import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startSpaServer, type SpaServer } from '../../examples/spa/serve.ts'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { buildApp } from '../../src/app.ts'
import { systemClock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { AuditEvent, Store } from '../../src/store/store.ts'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { inMemoryKeyRing } from '../helpers/keys.ts'

/*
 * The example SPA in headless Chromium against a real Latchkey listener. Three origins:
 *   SPA      http://localhost:<spa>      in CORS_ORIGINS
 *   API      http://localhost:<api>      Latchkey; the refresh cookie is host-only for localhost
 *   foreign  http://127.0.0.1:<evil>     another site: SameSite=Strict keeps the cookie away
 *   sibling  http://localhost:<evil>     same site, other origin: the cookie IS sent, CSRF defence must stop it
 * `localhost` is used throughout so cookies behave as they would for app.example.com + auth.example.com.
 */

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

const COOKIE = 'latchkey_refresh'
// The default poll timeout (1 s) is too tight for a browser on a busy two-core machine.
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 })

interface SeenRequest {
  method: string
  path: string
  origin: string | undefined
  sentCookie: boolean
  status: number
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

describeBrowser('the example SPA in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser
  let app: FastifyInstance
  let store: Store
  let spa: SpaServer
  let evil: Server
  let spaUrl: string
  let apiUrl: string
  let foreignUrl: string
  let siblingUrl: string
  const seen: SeenRequest[] = []
  let refreshesInFlight = 0
  let maxRefreshesInFlight = 0

  beforeAll(async () => {
    // The API's port must be known before the SPA starts and the SPA's before the API's config is built.
    const probe = createServer()
    const apiPort = await listen(probe)
    await new Promise((resolve) => probe.close(resolve))
    apiUrl = `http://localhost:${apiPort}`
    spa = await startSpaServer({ apiUrl })
    spaUrl = `http://localhost:${spa.port}`

    evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'))
    const evilPort = await listen(evil)
    foreignUrl = `http://127.0.0.1:${evilPort}`
    siblingUrl = `http://localhost:${evilPort}`

    const config = loadConfig({ CORS_ORIGINS: spaUrl, ISSUER: apiUrl, LOG_LEVEL: 'silent' })
    store = createSqliteStore({ path: ':memory:' })
    app = await buildApp({
      config,
      store,
      keys: await inMemoryKeyRing(),
      clock: systemClock,
      logger: createLogger('silent'),
      passwords: createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 1000 }),
    })
    app.addHook('onRequest', async (request) => {
      if (request.method !== 'POST' || !request.url.startsWith('/auth/refresh')) return
      refreshesInFlight += 1
      maxRefreshesInFlight = Math.max(maxRefreshesInFlight, refreshesInFlight)
    })
    app.addHook('onResponse', async (request, reply) => {
      seen.push({
        method: request.method,
        path: request.url.split('?')[0] ?? '',
        origin: request.headers.origin,
        sentCookie: String(request.headers.cookie ?? '').includes(`${COOKIE}=`),
        status: reply.statusCode,
      })
    })
    app.addHook('onResponse', async (request) => {
      if (request.method === 'POST' && request.url.startsWith('/auth/refresh')) refreshesInFlight -= 1
    })
    await app.listen({ host: '127.0.0.1', port: apiPort })
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await app?.close()
    await store?.close()
    await spa?.close()
    await new Promise((resolve) => evil?.close(resolve))
  })

  let context: BrowserContext
  beforeEach(async () => {
    context = await browser.newContext()
    seen.length = 0
    maxRefreshesInFlight = 0
  })
  afterEach(() => context.close())

  async function openSpa(page?: Page): Promise<Page> {
    const p = page ?? (await context.newPage())
    await p.goto(spaUrl)
    await p.waitForSelector('body:not([data-state="loading"])')
    return p
  }

  async function signUp(page: Page, email = uniqueEmail()): Promise<string> {
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await poll(() => page.textContent('#me-email')).toBe(email)
    return email
  }

  const stateOf = (page: Page) => page.getAttribute('body', 'data-state')
  // context.cookies(url) would filter by path, and the cookie lives on /auth only.
  const refreshCookie = async () => (await context.cookies()).find((c) => c.name === COOKIE)
  const audit = async (type: AuditEvent['type']) => store.listAudit({ type, limit: 100 })

  /** Runs fetch inside a page; a CORS failure surfaces as { ok: false }. */
  function fetchFrom(page: Page, url: string, init: { method?: string; credentials?: 'include'; mode?: 'no-cors'; headers?: Record<string, string> }) {
    return page.evaluate(
      async ({ url, init }) => {
        try {
          const res = await fetch(url, init)
          return { ok: true as const, status: res.status, type: res.type, body: await res.text() }
        } catch (err) {
          return { ok: false as const, error: String(err) }
        }
      },
      { url, init },
    )
  }

  it('signs up, shows /me, and a reload restores the session through the cookie alone', async () => {
    const page = await openSpa()
    expect(await stateOf(page)).toBe('signed-out')
    const email = await signUp(page)
    expect(await page.textContent('#me-scope')).toBe('user')

    const cookie = await refreshCookie()
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/auth', domain: 'localhost' })
    // Nothing but memory holds the access token: no web storage is used at all.
    expect(await page.evaluate('localStorage.length + sessionStorage.length')).toBe(0)

    const beforeReload = seen.length
    await page.reload()
    await page.waitForSelector('body[data-state="signed-in"]')
    expect(await page.textContent('#me-email')).toBe(email)
    await poll(() => seen.slice(beforeReload).filter((r) => r.method === 'POST')).toEqual([
      { method: 'POST', path: '/auth/refresh', origin: spaUrl, sentCookie: true, status: 200 },
    ])
    expect((await refreshCookie())?.value).not.toBe(cookie?.value)
  })

  it('the refresh token never reaches script: not in document.cookie, not in any response body', async () => {
    const page = await context.newPage()
    const bodies: Array<Promise<string>> = []
    page.on('response', (res) => {
      if (res.url().startsWith(apiUrl) && res.request().method() !== 'OPTIONS') bodies.push(res.text().catch(() => ''))
    })
    await openSpa(page)
    await signUp(page)
    const tokens = new Set<string>()
    const check = async () => {
      const cookie = await refreshCookie()
      expect(cookie?.value).toMatch(/^lkr_/)
      tokens.add(cookie!.value)
      expect(await page.evaluate('document.cookie')).not.toContain(cookie!.value)
    }
    await check()
    await page.click('#refresh')
    await poll(() => page.textContent('#refresh-count')).toBe('1')
    await check()
    await page.reload()
    await page.waitForSelector('body[data-state="signed-in"]')
    await check()
    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    expect(await refreshCookie()).toBeUndefined()

    const texts = await Promise.all(bodies)
    expect(texts.length).toBeGreaterThanOrEqual(5)
    expect(texts.some((t) => t.includes('access_token'))).toBe(true)
    for (const text of texts) {
      expect(text).not.toContain('lkr_')
      for (const token of tokens) expect(text).not.toContain(token)
    }
  })

  it('refreshes silently before the access token expires', async () => {
    const page = await context.newPage()
    await page.clock.install()
    await openSpa(page)
    await signUp(page)
    expect(await page.textContent('#refresh-count')).toBe('0')
    // Default access-token lifetime is 600 s; the client refreshes 60–70 s ahead of expiry (jitter).
    const rotations = () => seen.filter((r) => r.path === '/auth/refresh' && r.status === 200)
    await page.clock.runFor(525_000)
    expect(rotations()).toHaveLength(0)
    await page.clock.runFor(20_000)
    await poll(() => page.textContent('#refresh-count')).toBe('1')
    await poll(() => rotations().length).toBe(1)
    await page.click('#reload-me')
    expect(await page.textContent('#error')).toBe('')
  })

  it('two tabs refreshing at the same moment take turns: never two refreshes in flight, no grace retry, no reuse', async () => {
    const first = await openSpa()
    const email = await signUp(first)
    const second = await openSpa()
    await poll(() => second.textContent('#me-email')).toBe(email)

    const countsBefore = await Promise.all([first, second].map(async (p) => Number(await p.textContent('#refresh-count'))))
    const refreshesBefore = seen.length
    await Promise.all([first.click('#refresh'), second.click('#refresh')])
    for (const [i, page] of [first, second].entries()) {
      await poll(async () => Number(await page.textContent('#refresh-count'))).toBeGreaterThan(countsBefore[i]!)
      expect(await stateOf(page)).toBe('signed-in')
      await page.click('#reload-me')
      expect(await page.textContent('#error')).toBe('')
    }
    // The Web Lock serialised them; the second tab usually takes the first one's result over the channel.
    const refreshes = seen.slice(refreshesBefore).filter((r) => r.method === 'POST' && r.path === '/auth/refresh')
    expect(refreshes.length).toBeGreaterThanOrEqual(1)
    expect(refreshes.length).toBeLessThanOrEqual(2)
    expect(refreshes.every((r) => r.status === 200)).toBe(true)
    expect(maxRefreshesInFlight).toBe(1)
    expect((await audit('refresh')).filter((e) => e.details.grace_retry)).toHaveLength(0)
    expect(await audit('refresh_reuse_detected')).toHaveLength(0)
  })

  it('a lost refresh response is retried inside the grace window and the tab stays signed in', async () => {
    const page = await openSpa()
    await signUp(page)
    const afterSignUp = seen.length
    const graceBefore = (await audit('refresh')).filter((e) => e.details.grace_retry).length
    let dropped = 0
    // The request reaches Latchkey, which rotates the token; the answer (and its Set-Cookie) never
    // reaches the browser. Forwarded from Node so the browser's cookie jar stays as it was.
    await page.route(`${apiUrl}/auth/refresh`, async (route) => {
      if (route.request().method() !== 'POST' || dropped++ > 0) return route.fallback()
      const headers = await route.request().allHeaders()
      const lost = await fetch(route.request().url(), { method: 'POST', headers: { origin: headers.origin!, cookie: headers.cookie!, 'x-latchkey-refresh': 'cookie' } })
      expect(lost.status).toBe(200)
      await route.abort('connectionreset')
    })
    await page.click('#refresh')
    await poll(() => page.textContent('#refresh-count')).toBe('1')
    expect(await page.textContent('#error')).toBe('')
    const posts = seen.slice(afterSignUp).filter((r) => r.method === 'POST' && r.path === '/auth/refresh').map((r) => r.status)
    expect(posts).toEqual([200, 200])
    expect((await audit('refresh')).filter((e) => e.details.grace_retry)).toHaveLength(graceBefore + 1)
    expect(await audit('refresh_reuse_detected')).toHaveLength(0)
    await page.click('#reload-me')
    expect(await page.textContent('#error')).toBe('')
    await page.click('#refresh')
    await poll(() => page.textContent('#refresh-count')).toBe('2')
  })

  it('signing out in one tab signs the other out at once, and the server revoked the session', async () => {
    const first = await openSpa()
    await signUp(first)
    const second = await openSpa()
    await second.waitForSelector('body[data-state="signed-in"]')
    const lastCookie = (await refreshCookie())!.value

    const beforeSignOut = seen.length
    await first.click('#sign-out')
    await first.waitForSelector('body[data-state="signed-out"]')
    expect(await audit('logout')).not.toHaveLength(0)
    // The other tab hears it over the BroadcastChannel: no request of its own is needed.
    await second.waitForSelector('body[data-state="signed-out"]')
    expect(await second.textContent('#event-log')).toMatch(/signed_out$/)
    expect(seen.slice(beforeSignOut).filter((r) => r.method !== 'OPTIONS').map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['POST /auth/logout 204'])

    // The server revoked the session itself, not just the browser's cookie: the last cookie is dead.
    const replay = await fetch(`${apiUrl}/auth/refresh`, {
      method: 'POST',
      headers: { origin: spaUrl, 'x-latchkey-refresh': 'cookie', cookie: `${COOKIE}=${lastCookie}` },
    })
    expect(replay.status).toBe(401)
    expect(((await replay.json()) as { code: string }).code).toBe('session_revoked')
  })

  it('a revocation-checked route refusing the token (session_revoked) signs the tab out without a refresh', async () => {
    const page = await openSpa()
    const email = await signUp(page)
    // Another device of the same account signs every session out.
    const other = await fetch(`${apiUrl}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) })
    const { access_token: otherToken } = (await other.json()) as { access_token: string }
    expect((await fetch(`${apiUrl}/me/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${otherToken}` } })).status).toBe(204)

    const beforeCall = seen.length
    await page.click('#load-sessions')
    await page.waitForSelector('body[data-state="signed-out"]')
    expect(seen.slice(beforeCall).filter((r) => r.method !== 'OPTIONS').map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /me/sessions 401'])
    expect(await page.textContent('#event-log')).toMatch(/session_expired$/)
  })

  it('a page on a foreign origin can neither read responses nor refresh or sign out through the cookie', async () => {
    const page = await openSpa()
    await signUp(page)
    const before = (await refreshCookie())!.value
    const refreshesBefore = (await audit('refresh')).length
    const rejectedBefore = (await audit('csrf_rejected')).length

    const foreign = await context.newPage()
    await foreign.goto(foreignUrl)
    // CORS: no Access-Control-Allow-Origin for this origin, so even a public response is unreadable.
    const read = await fetchFrom(foreign, `${apiUrl}/health/live`, {})
    expect(read).toMatchObject({ ok: false, error: expect.stringContaining('Failed to fetch') })
    // The custom header needs a preflight, which fails: the POST is never sent.
    const withHeader = await fetchFrom(foreign, `${apiUrl}/auth/refresh`, { method: 'POST', credentials: 'include', headers: { 'X-Latchkey-Refresh': 'cookie' } })
    expect(withHeader.ok).toBe(false)
    // A simple cross-site POST is sent, but SameSite=Strict keeps the cookie out of it.
    // (Cross-Origin-Resource-Policy: same-origin also withholds even the opaque response from the page.)
    const simple = await fetchFrom(foreign, `${apiUrl}/auth/logout`, { method: 'POST', credentials: 'include', mode: 'no-cors' })
    expect(simple).toMatchObject({ ok: false, error: expect.stringContaining('Failed to fetch') })
    const postsFrom = (origin: string) => seen.filter((r) => r.origin === origin && r.method === 'POST').map((r) => [r.path, r.sentCookie, r.status])
    await poll(() => postsFrom(foreignUrl)).toEqual([['/auth/logout', false, 400]])

    // Same site, other origin: the browser does send the cookie, and the CSRF check refuses it.
    const sibling = await context.newPage()
    await sibling.goto(siblingUrl)
    const siblingRead = await fetchFrom(sibling, `${apiUrl}/auth/refresh`, { method: 'POST', credentials: 'include', headers: { 'X-Latchkey-Refresh': 'cookie' } })
    expect(siblingRead.ok).toBe(false)
    for (const path of ['/auth/refresh', '/auth/logout']) {
      const forged = await fetchFrom(sibling, `${apiUrl}${path}`, { method: 'POST', credentials: 'include', mode: 'no-cors' })
      expect(forged).toMatchObject({ ok: false, error: expect.stringContaining('Failed to fetch') })
    }
    await poll(() => postsFrom(siblingUrl)).toEqual([
      ['/auth/refresh', true, 403],
      ['/auth/logout', true, 403],
    ])
    const allRejected = await audit('csrf_rejected')
    const rejected = allRejected.slice(0, allRejected.length - rejectedBefore)
    expect(rejected.map((e) => [e.details.path, e.details.origin, e.details.reason]).reverse()).toEqual([
      ['/auth/refresh', siblingUrl, 'missing_header'],
      ['/auth/logout', siblingUrl, 'missing_header'],
    ])

    // Nothing was rotated or revoked: the SPA's cookie is unchanged and still refreshes.
    expect((await audit('refresh')).length).toBe(refreshesBefore)
    expect((await refreshCookie())!.value).toBe(before)
    await page.click('#refresh')
    await poll(() => page.textContent('#refresh-count')).toBe('1')
    expect(await stateOf(page)).toBe('signed-in')
  })

  // Needs GET /me/sessions and DELETE /me/sessions/{id} (DESIGN §3), built on the `sessions` branch.
  describe('session management (needs the /me/sessions routes from the sessions branch)', () => {
    /** Shows the session list, failing at once with the SPA's error (e.g. not_found) if the API refused. */
    async function showSessions(page: Page) {
      await page.click('#load-sessions')
      await page.waitForSelector('#sessions li, #error:not(:empty)')
      expect(await page.textContent('#error')).toBe('')
    }

    it('lists this browser among the sessions and revokes another one', async () => {
      const email = uniqueEmail()
      const other = await fetch(`${apiUrl}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'other-device/1.0' },
        body: JSON.stringify({ email, password: PASSWORD }),
      })
      expect(other.status).toBe(201)
      const otherTokens = (await other.json()) as { refresh_token: string }

      const page = await openSpa()
      await page.fill('#email', email)
      await page.fill('#password', PASSWORD)
      await page.click('#sign-in')
      await page.waitForSelector('body[data-state="signed-in"]')
      await showSessions(page)
      await poll(() => page.locator('#sessions li').count()).toBe(2)
      expect(await page.locator('#sessions li.current').count()).toBe(1)

      await page.locator('#sessions li:not(.current) button.revoke').click()
      await poll(() => page.locator('#sessions li').count()).toBe(1)
      const refused = await fetch(`${apiUrl}/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: otherTokens.refresh_token }),
      })
      expect(refused.status).toBe(401)
      expect(await stateOf(page)).toBe('signed-in')
    })

    it("revoking this browser's own session signs it out", async () => {
      const page = await openSpa()
      await signUp(page)
      await showSessions(page)
      await poll(() => page.locator('#sessions li.current').count()).toBe(1)
      await page.locator('#sessions li.current button.revoke').click()
      await page.waitForSelector('body[data-state="signed-out"]')
      await page.reload()
      await page.waitForSelector('body[data-state="signed-out"]')
    })
  })
})
