import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'

function issuesOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.issues
    throw err
  }
  return []
}

describe('performance settings', () => {
  it('defaults: one process, a 60 s / 10,000-entry token cache', () => {
    const config = loadConfig({})
    expect(config.workers).toBe(1)
    expect(config.tokenCache).toEqual({ ttlMs: 60_000, maxEntries: 10_000 })
  })

  it('reads WORKERS=auto and WORKERS=<n>', () => {
    expect(loadConfig({ WORKERS: 'auto' }).workers).toBe('auto')
    expect(loadConfig({ WORKERS: '3' }).workers).toBe(3)
  })

  it('names WORKERS and the token-cache variables when they are invalid', () => {
    expect(issuesOf({ WORKERS: '0' })[0]).toMatch(/^WORKERS=/)
    expect(issuesOf({ WORKERS: 'many' })[0]).toMatch(/^WORKERS=/)
    expect(issuesOf({ TOKEN_CACHE_TTL: '-1' })[0]).toMatch(/^TOKEN_CACHE_TTL=/)
    expect(issuesOf({ TOKEN_CACHE_MAX_ENTRIES: 'lots' })[0]).toMatch(/^TOKEN_CACHE_MAX_ENTRIES=/)
  })

  it('refuses several workers on an in-memory database, which each worker would hold alone', () => {
    expect(issuesOf({ WORKERS: '2', DATABASE_URL: 'sqlite::memory:' })[0]).toMatch(/^WORKERS=2/)
  })
})
