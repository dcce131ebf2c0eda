import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { startSpaStack, type SpaStack } from './spa-stack.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 })

/**
 * The example SPA with its DPoP switch on, in Chromium, against Latchkey with DPOP=required and server
 * nonces: a Bearer client could not sign in at all, so every success here went through DPoP.
 */
/** Seconds each server nonce is current; the server's clock runs `skew.ms` ahead when a test moves it. */
const NONCE_LIFETIME = 30
const skew = { ms: 0 }

describeBrowser('the example SPA with DPoP in Chromium', { timeout: 90_000 }, () => {
  let stack: SpaStack
  let browser: Browser

  beforeAll(async () => {
    stack = await startSpaStack({ env: { DPOP: 'required', DPOP_NONCE: 'true', DPOP_NONCE_LIFETIME: String(NONCE_LIFETIME) }, clock: { now: () => Date.now() + skew.ms } })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await stack?.close()
  })

  // CORS preflights left out.
  const calls = (path: string) => stack.seen.filter((r) => r.path === path && r.method !== 'OPTIONS').map((r) => `${r.method} ${r.status}`)

  it('without the switch sign-up is refused; with it the SPA signs up with DPoP and calls a protected route, also after a reload', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const email = uniqueEmail()
    await page.goto(stack.spaUrl)
    await page.waitForSelector('body[data-state="signed-out"]')
    expect(await page.isChecked('#use-dpop')).toBe(false)

    // Bearer only: DPOP=required refuses the sign-up.
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await poll(() => page.textContent('#error')).toMatch(/^invalid_dpop_proof: /)

    // The switch reloads the page with a DPoP client.
    await Promise.all([page.waitForEvent('load'), page.check('#use-dpop')])
    await page.waitForSelector('body[data-state="signed-out"]')
    expect(await page.isChecked('#use-dpop')).toBe(true)
    stack.seen.length = 0
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-email')).toBe(email)
    expect(await page.textContent('#token-type')).toBe('DPoP')
    // The first proof had no server nonce; the client retried with the one the answer carried: a 400
    // at a token endpoint (RFC 9449 §8).
    expect(calls('/auth/register')).toEqual(['POST 400', 'POST 201'])
    // (The page loads the profile after sign-up and on the signed_in event: once or twice.)
    expect(calls('/me').length).toBeGreaterThan(0)
    expect(new Set(calls('/me'))).toEqual(new Set(['GET 200']))

    // The key is in IndexedDB, and its private half cannot be exported.
    // Plain JavaScript run in the page (the test's own types have no DOM).
    const readKey = `(async (name) => {
      const done = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
      const db = await done(indexedDB.open(name))
      const pair = await done(db.transaction('keys', 'readonly').objectStore('keys').get('default'))
      db.close()
      if (!pair) return null
      const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(() => 'exported', (err) => err.name)
      return { extractable: pair.privateKey.extractable, algorithm: pair.privateKey.algorithm, exported }
    })(${JSON.stringify(`latchkey-dpop:${stack.apiUrl}`)})`
    const stored: unknown = await page.evaluate(readKey)
    expect(stored).toEqual({ extractable: false, algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, exported: 'InvalidAccessError' })

    // A reload loses the in-memory access token; the refresh cookie plus the same key bring the session back.
    stack.seen.length = 0
    await page.reload()
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-email')).toBe(email)
    // The new page has no server nonce yet: one use_dpop_nonce answer (a 400, which leaves the cookie), then the refresh.
    expect(calls('/auth/refresh')).toEqual(['POST 400', 'POST 200'])
    const before = calls('/me').length
    expect(new Set(calls('/me'))).toEqual(new Set(['GET 200']))
    await page.click('#reload-me')
    await poll(() => calls('/me').length).toBe(before + 1)
    expect(new Set(calls('/me'))).toEqual(new Set(['GET 200']))
    expect(await page.textContent('#error')).toBe('')

    // Two nonce lifetimes later (server and page clocks moved together), the kept nonce is stale: the
    // protected route asks for a new one with a 401 and its challenge, and the client retries.
    stack.seen.length = 0
    skew.ms = 2 * NONCE_LIFETIME * 1000 + 5000
    await page.clock.setSystemTime(Date.now() + skew.ms)
    await page.click('#reload-me')
    await poll(() => calls('/me')).toEqual(['GET 401', 'GET 200'])
    expect(stack.seen.find((r) => r.path === '/me' && r.status === 401)?.code).toBe('use_dpop_nonce')
    expect(await page.textContent('#error')).toBe('')

    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    await context.close()
  })
})
