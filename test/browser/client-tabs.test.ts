import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { startSpaStack, type SpaStack } from './spa-stack.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

const TABS = 5
// TAB_STORM_MS shortens the storm for a quick local run; the issue asks for a minute.
const STORM_MS = Number(process.env.TAB_STORM_MS ?? 60_000)
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 20_000 })

/**
 * Five tabs of the example SPA on one account, all pressing "Refresh now" at the same instant,
 * round after round, while 60-second access tokens also expire and refresh on their own schedule.
 */
describeBrowser('five tabs of the example SPA share one session', { timeout: STORM_MS + 120_000 }, () => {
  let stack: SpaStack
  let browser: Browser
  let context: BrowserContext
  let tabs: Page[]

  beforeAll(async () => {
    stack = await startSpaStack({ env: { ACCESS_TOKEN_TTL: '60' } })
    browser = await launchChromium()
    context = await browser.newContext()
  })
  afterAll(async () => {
    await browser?.close()
    await stack?.close()
  })

  const eventsOf = (page: Page) => page.textContent('#event-log').then((t) => (t ?? '').split(' ').filter(Boolean))

  it('forced simultaneous refreshes for a minute: no sign-out, no reuse detected, every tab keeps working; one sign-out signs all out', async () => {
    tabs = []
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage()
      await page.goto(stack.spaUrl)
      await page.waitForSelector('body[data-state="signed-out"]')
      tabs.push(page)
    }
    const email = uniqueEmail()
    await tabs[0]!.fill('#email', email)
    await tabs[0]!.fill('#password', PASSWORD)
    await tabs[0]!.click('#sign-up')
    // The other tabs hear of the sign-in over the BroadcastChannel and show the account.
    for (const page of tabs) await poll(() => page.textContent('#me-email')).toBe(email)

    let rounds = 0
    const started = Date.now()
    const refreshesBefore = stack.seen.length
    while (Date.now() - started < STORM_MS) {
      rounds++
      // One instant for all five tabs, set by their own clocks (same machine).
      const at = Date.now() + 300
      await Promise.all(
        tabs.map((page) => page.evaluate(`void setTimeout(() => document.querySelector('#refresh').click(), ${at} - Date.now())`)),
      )
      await new Promise((resolve) => setTimeout(resolve, 900))
      // Every tab still calls the API with a working token.
      await Promise.all(tabs.map((page) => page.click('#reload-me')))
      for (const page of tabs) {
        expect(await page.getAttribute('body', 'data-state')).toBe('signed-in')
        expect(await page.textContent('#error')).toBe('')
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1500))

    for (const page of tabs) {
      const events = await eventsOf(page)
      expect(events).not.toContain('signed_out')
      expect(events).not.toContain('session_expired')
      expect(await page.textContent('#me-email')).toBe(email)
      expect(await page.textContent('#error')).toBe('')
    }
    const refreshes = stack.seen.slice(refreshesBefore).filter((r) => r.method === 'POST' && r.path === '/auth/refresh')
    console.info(`${rounds} rounds of ${TABS} simultaneous refreshes: ${refreshes.length} reached Latchkey`)
    expect(refreshes.every((r) => r.status === 200)).toBe(true)
    // The Web Lock: never two refreshes of this session in flight at once.
    expect(stack.maxRefreshesInFlight()).toBe(1)
    // The channel: most tabs take another tab's fresh token instead of spending the refresh token again.
    expect(refreshes.length).toBeGreaterThanOrEqual(rounds)
    expect(refreshes.length).toBeLessThan(rounds * TABS)
    expect(await stack.audit('refresh_reuse_detected')).toEqual([])
    expect(await stack.audit('session_revoked')).toEqual([])
    expect(await stack.audit('logout')).toEqual([])

    // One tab signs out: every tab follows.
    await tabs[2]!.click('#sign-out')
    for (const page of tabs) {
      await page.waitForSelector('body[data-state="signed-out"]')
      expect((await eventsOf(page)).at(-1)).toBe('signed_out')
    }
    expect(await stack.audit('logout')).toHaveLength(1)
    // And they stay out after a reload: the cookie is gone.
    await tabs[4]!.reload()
    await tabs[4]!.waitForSelector('body[data-state="signed-out"]')
  })
})
