import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../helpers/app.ts'
import { chromiumAvailability, launchChromium } from '../helpers/chromium.ts'
import { documentedOperations, openapiDocument } from '../helpers/contract.ts'

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
