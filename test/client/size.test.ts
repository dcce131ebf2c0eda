import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { measureBrowserBundle } from '../../packages/client/scripts/size.ts'

describe('the browser build of @latchkey/client', () => {
  it('is under 10 KB min+gzip, and `npm run size:client` reports it', async () => {
    const { minified, gzipped } = await measureBrowserBundle()
    expect(gzipped).toBeGreaterThan(1000)
    expect(gzipped).toBeLessThan(10 * 1024)
    expect(minified).toBeGreaterThan(gzipped)
    const root = new URL('../../', import.meta.url).pathname
    const out = execFileSync('npm', ['run', '-s', 'size:client'], { cwd: root, encoding: 'utf8' })
    expect(out).toMatch(/@latchkey\/client browser build: [\d.]+ KB minified, [\d.]+ KB min\+gzip/)
  }, 60_000)
})
