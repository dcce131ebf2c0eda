import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { startSpaStack, type SpaStack } from './spa-stack.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

const NEW_PASSWORD = 'a different and longer passphrase'
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 })

/** The example SPA's mail pages, with the links read from mail that Latchkey really sent over SMTP. */
describeBrowser('the example SPA mail pages in Chromium', { timeout: 90_000 }, () => {
  let stack: SpaStack
  let browser: Browser

  beforeAll(async () => {
    stack = await startSpaStack({ mail: true })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await stack?.close()
  })

  async function linkFrom(email: string, subject: RegExp, path: string): Promise<string> {
    const [mail] = await stack.smtp!.waitFor((m) => m.to === email && subject.test(m.subject), { timeoutMs: 15_000 })
    expect(mail!.link).toMatch(new RegExp(`^${stack.spaUrl}${path}\\?token=`))
    return mail!.link!
  }

  async function signIn(page: Page, email: string, password: string) {
    await page.fill('#email', email)
    await page.fill('#password', password)
    await page.click('#sign-in')
  }

  it('register → verify link → sign out → forgot → reset link → sign in with the new password', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const email = uniqueEmail()

    await page.goto(stack.spaUrl)
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-verified')).toBe('not verified yet')

    // The verification link opens the SPA's /verify-email page, which spends its token.
    await page.goto(await linkFrom(email, /confirm your email/i, '/verify-email'))
    await page.waitForSelector('body[data-verified="true"]')
    expect(await page.textContent('#verify-result')).toBe(`${email} is verified.`)
    await page.click('text=Continue')
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-verified')).toBe('verified')
    expect(await stack.audit('email_verified')).toHaveLength(1)

    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')

    await page.click('#forgot-link')
    await page.waitForSelector('body[data-page="forgot-password"]')
    await page.fill('#forgot-email', email)
    await page.click('#forgot-submit')
    await page.waitForSelector('#forgot-done:not([hidden])')

    await page.goto(await linkFrom(email, /reset your password/i, '/reset-password'))
    await page.fill('#reset-password', NEW_PASSWORD)
    await page.click('#reset-submit')
    await page.waitForSelector('#reset-done:not([hidden])')
    expect(await page.textContent('#error')).toBe('')

    await page.click('#reset-done a')
    await page.waitForSelector('body[data-state="signed-out"]')
    await signIn(page, email, PASSWORD)
    await poll(() => page.textContent('#error')).toMatch(/^invalid_credentials/)
    await signIn(page, email, NEW_PASSWORD)
    await page.waitForSelector('body[data-state="signed-in"]')
    expect(await page.textContent('#me-email')).toBe(email)
    await context.close()
  })

  it('a used or forged link shows the failure instead of a success', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${stack.spaUrl}/verify-email?token=lkt_not-a-real-token`)
    await page.waitForSelector('body[data-state="ready"]')
    expect(await page.textContent('#verify-result')).toBe('This link cannot be used.')
    expect(await page.textContent('#error')).toMatch(/^link_token_invalid/)
    await context.close()
  })
})
