import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, uniqueEmail } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { startSpaStack, type SpaStack } from './spa-stack.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 })
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>

/**
 * The example SPA's passkey pages in Chromium, with the DevTools protocol's virtual authenticator
 * standing in for the platform authenticator: real navigator.credentials calls, real CBOR, real
 * signatures, on http://localhost (a secure context; RP id "localhost", the host of PUBLIC_URL).
 */
describeBrowser('passkeys in the example SPA, in Chromium with a virtual authenticator', { timeout: 90_000 }, () => {
  let stack: SpaStack
  let browser: Browser

  // The server's clock runs ahead by this much when a test wants the sign-in to be old.
  let offsetMs = 0
  beforeAll(async () => {
    stack = await startSpaStack({ clock: { now: () => Date.now() + offsetMs } })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await stack?.close()
  })

  /** A page whose browser has one internal (platform) authenticator with user verification, like a laptop's. */
  async function pageWithAuthenticator(context: BrowserContext): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable', { enableUI: false })
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    })
    return { page, cdp, authenticatorId }
  }

  /** The tokens of the last passkey sign-in, read from what Latchkey answered (the SPA keeps them in memory only). */
  function lastPasskeyTokens(page: Page): Promise<{ access_token: string }> {
    return page.waitForResponse((r) => r.url().endsWith('/auth/passkeys/login/verify') && r.request().method() === 'POST').then((r) => r.json())
  }

  it('registers a passkey, signs out, signs in with it (discoverable and email-first), steps up with it to delete it', async () => {
    const context = await browser.newContext()
    const { page, cdp, authenticatorId } = await pageWithAuthenticator(context)
    const email = uniqueEmail()

    await page.goto(stack.spaUrl)
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', email)
    await page.fill('#password', PASSWORD)
    await page.click('#sign-up')
    await page.waitForSelector('body[data-state="signed-in"]')

    // Register: the virtual authenticator creates a resident P-256 key for RP id "localhost".
    await page.fill('#passkey-name', 'Virtual laptop')
    await page.click('#add-passkey')
    await poll(() => page.textContent('#notice')).toBe('Passkey "Virtual laptop" added.')
    await poll(() => page.locator('#passkeys li').count()).toBe(1)
    expect(await page.textContent('#passkeys li')).toContain('Virtual laptop — this device only')
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' })
    const userId = (await stack.store.findUserByEmail(email))!.id
    const [stored] = await stack.store.passkeys.listForUser(userId)
    expect(stored!.credentialId).toBe(credentials[0]!.credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))
    expect(stored!.counter).toBe(credentials[0]!.signCount)

    // Sign out, then sign in with no email typed: the browser picks the discoverable credential.
    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', '')
    await page.fill('#password', '')
    const discoverable = lastPasskeyTokens(page)
    await page.click('#passkey-sign-in')
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-email')).toBe(email)
    const claims = claimsOf((await discoverable).access_token)
    // The virtual authenticator verifies the user: possession plus PIN/biometric, multi-factor on its own.
    expect(claims).toMatchObject({ sub: userId, amr: ['hwk', 'user', 'mfa'], acr: 'aal2' })
    expect((await stack.audit('login_succeeded')).filter((e) => e.userId === userId && e.details.amr === 'hwk user mfa')).toHaveLength(1)
    // The authenticator counted the signature and Latchkey stored the count.
    const [afterSignIn] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
    expect(afterSignIn!.signCount).toBe(credentials[0]!.signCount + 1)
    expect((await stack.store.passkeys.listForUser(userId))[0]).toMatchObject({ counter: afterSignIn!.signCount, lastUsedAt: expect.any(Number) })

    // Email-first: the options list this account's credential.
    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', email)
    await page.click('#passkey-sign-in')
    await page.waitForSelector('body[data-state="signed-in"]')
    await poll(() => page.textContent('#me-email')).toBe(email)

    // Six minutes later the sign-in is too old to delete a passkey (STEP_UP_MAX_AGE 300 s): Latchkey
    // answers 401 insufficient_user_authentication, the SPA confirms with the passkey (a fresh
    // sign-in) and retries. Then it is gone from the list, and the authenticator's copy no longer signs in.
    await page.click('#load-passkeys')
    await poll(() => page.locator('#passkeys li').count()).toBe(1)
    offsetMs = 360_000
    const before = stack.seen.length
    await page.click('#passkeys li .delete-passkey')
    await poll(() => page.textContent('#notice')).toBe('Passkey "Virtual laptop" deleted.')
    await poll(() => page.locator('#passkeys li').count()).toBe(0)
    expect(await stack.store.passkeys.listForUser(userId)).toEqual([])
    expect((await stack.audit('passkey_deleted')).filter((e) => e.userId === userId)).toHaveLength(1)
    const deleting = stack.seen.slice(before).filter((r) => r.method !== 'OPTIONS')
    expect(deleting.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, ':id')} ${r.status}`)).toEqual([
      'DELETE /me/passkeys/:id 401',
      'POST /auth/passkeys/login/options 200',
      'POST /auth/passkeys/login/verify 200',
      'DELETE /me/passkeys/:id 204',
      'GET /me/passkeys 200',
    ])

    await page.click('#sign-out')
    await page.waitForSelector('body[data-state="signed-out"]')
    await page.fill('#email', '')
    await page.click('#passkey-sign-in')
    await poll(() => page.textContent('#error')).toMatch(/^passkey_unknown_credential: /)
    expect(await page.getAttribute('body', 'data-state')).toBe('signed-out')
    await context.close()
  })
})
