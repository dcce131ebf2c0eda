import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { totpAt } from '../helpers/totp.ts'
import { startSpaStack, type SpaStack } from './spa-stack.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

/** TOTP in the example SPA, in Chromium: the test reads the secret off the page and computes codes as an authenticator app would. */
describeBrowser('two-factor authentication in the example SPA, in Chromium', { timeout: 90_000 }, () => {
  let stack: SpaStack
  let browser: Browser
  // The server's clock runs ahead by this much when the test wants the sign-in to be old.
  let offsetMs = 0
  const serverNow = () => Date.now() + offsetMs
  beforeAll(async () => {
    stack = await startSpaStack({ clock: { now: serverNow } })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await stack?.close()
  })

  it('enrols TOTP from the QR page, signs out and back in with a code, and passes a step-up prompt to turn it off', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const email = uniqueEmail()
    await page.goto(stack.spaUrl)
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await page.waitForSelector('body[data-state="signed-in"]')

    await page.click('#enable-totp')
    await page.waitForSelector('#totp-enrol:not([hidden])')
    expect(await page.getAttribute('#totp-qr', 'src')).toMatch(/^data:image\/png;base64,/)
    const secret = (await page.textContent('#totp-secret'))!.trim()
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    await page.fill('#totp-code', totpAt(secret, serverNow()))
    await page.click('#totp-confirm-submit')
    await expect.poll(() => page.locator('#recovery-codes li').count(), { timeout: 15_000 }).toBe(10)

    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-in')
    await page.waitForSelector('#mfa-form:not([hidden])')
    expect(await page.getAttribute('body', 'data-state')).toBe('signed-out')
    // The next step's code: the current one confirmed the enrolment, and a code is accepted once.
    await page.fill('#mfa-code', totpAt(secret, serverNow() + 30_000))
    await page.click('#mfa-submit')
    await page.waitForSelector('body[data-state="signed-in"]')
    expect(await page.textContent('#me-email')).toBe(email)

    // Ten minutes later (on the server) the sign-in is too old to turn the factor off: the page prompts.
    offsetMs = 10 * 60_000
    await page.click('#disable-totp')
    await page.waitForSelector('#step-up:not([hidden])')
    await page.fill('#step-up-code', totpAt(secret, serverNow()))
    await page.click('#step-up-submit')
    await expect.poll(() => page.textContent('#notice'), { timeout: 15_000 }).toBe('Two-factor authentication is off.')
    const disabled = await stack.audit('mfa_disabled')
    expect(disabled.length).toBeGreaterThanOrEqual(1)
    expect((await stack.audit('step_up_succeeded')).length).toBeGreaterThanOrEqual(1)
    await context.close()
  })
})
