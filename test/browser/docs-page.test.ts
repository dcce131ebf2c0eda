import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { documentedOperations, openapiDocument } from '../helpers/contract.ts'
import { startInstance } from '../helpers/instance.ts'

const availability = chromiumAvailability()
if (!availability.available) console.warn(`SKIPPED ${availability.reason}`)
const describeBrowser = availability.available ? describe : describe.skip

/** GET /docs in a real browser: Swagger UI renders every documented operation under its strict CSP. */
describeBrowser('the /docs reference page in Chromium', () => {
  let t: TestApp
  let browser: Browser
  let base: string

  beforeAll(async () => {
    t = await createTestApp()
    base = await t.app.listen({ host: '127.0.0.1', port: 0 })
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await t?.close()
  })

  it('renders every operation, with no CSP violation or script error', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`)
    })
    await page.goto(`${base}/docs`)
    await page.waitForSelector('.opblock', { timeout: 20_000 })
    const rendered = await page.$$eval('.opblock', (blocks) =>
      blocks.map((b) => {
        const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? ''
        const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? b.querySelector('.opblock-summary-path')?.textContent?.trim() ?? ''
        return `${method} ${path.replace(/\u200b/g, '')}`
      }),
    )
    const expected = documentedOperations().map((o) => `${o.method} ${o.template}`)
    expect(rendered.sort()).toEqual(expected.sort())
    const title = await page.textContent('.info .title')
    expect(title).toContain((openapiDocument.info as { title: string }).title)
    expect(problems).toEqual([])
    await page.close()
  })
})

/** "Try it out" on the page served by a real server on a port that is not 3000, with no PUBLIC_URL set. */
describeBrowser('"Try it out" on /docs in Chromium, on any port', () => {
  let browser: Browser
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-docs-'))
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('calls the server that served the page and shows its answer, with no CSP violation', async () => {
    const latchkey = await startInstance('docs', { DATABASE_URL: 'sqlite::memory:', KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'warn' })
    const page = await browser.newPage()
    try {
      expect(new URL(latchkey.url).port).not.toBe('3000')
      const problems: string[] = []
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console: ${msg.text()}`)
      })
      await page.goto(`${latchkey.url}/docs`)
      const operation = page.locator('#operations-keys-getOpenidConfiguration')
      await operation.locator('.opblock-summary').click()
      await operation.locator('button.try-out__btn').click()
      await operation.locator('button.execute').click()
      const status = operation.locator('.live-responses-table tr.response .response-col_status').first()
      await status.waitFor({ timeout: 20_000 })
      expect((await status.textContent())?.trim()).toBe('200')
      expect(await operation.locator('.request-url pre').textContent()).toBe(`${latchkey.url}/.well-known/openid-configuration`)
      const body = await operation.locator('.live-responses-table tr.response .response-col_description pre').first().textContent()
      expect(JSON.parse(body ?? '{}')).toMatchObject({ issuer: latchkey.url, jwks_uri: `${latchkey.url}/.well-known/jwks.json` })
      expect(problems).toEqual([])
    } finally {
      await page.close()
      await latchkey.stop()
    }
  })
})
