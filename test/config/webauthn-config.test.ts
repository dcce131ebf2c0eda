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

describe('passkey (WebAuthn) settings', () => {
  it('default to the host of PUBLIC_URL, its origin and the CORS origins on that host', () => {
    const config = loadConfig({ PUBLIC_URL: 'https://auth.example.com', CORS_ORIGINS: 'https://app.example.com,https://x.auth.example.com,http://localhost:5173' })
    expect(config.webauthn).toEqual({ rpId: 'auth.example.com', rpName: 'Latchkey', origins: ['https://auth.example.com', 'https://x.auth.example.com'] })
    expect(loadConfig({}).webauthn).toEqual({ rpId: '127.0.0.1', rpName: 'Latchkey', origins: ['http://127.0.0.1:3000'] })
  })

  it('take an RP id that covers sibling subdomains, so the SPA on app.* can use the API on auth.*', () => {
    const config = loadConfig({ PUBLIC_URL: 'https://auth.example.com', CORS_ORIGINS: 'https://app.example.com', WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_RP_NAME: 'Example' })
    expect(config.webauthn).toEqual({ rpId: 'example.com', rpName: 'Example', origins: ['https://auth.example.com', 'https://app.example.com'] })
    expect(loadConfig({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.com, https://app.example.com:8443' }).webauthn.origins).toEqual(['https://example.com', 'https://app.example.com:8443'])
  })

  it('refuse an explicit origin outside the RP id, and malformed values, naming the variable', () => {
    expect(issuesOf({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.com.evil.test' })).toEqual([
      'WEBAUTHN_ORIGINS: https://example.com.evil.test is not on the relying party id "example.com" or a subdomain of it (WEBAUTHN_RP_ID)',
    ])
    expect(issuesOf({ WEBAUTHN_RP_ID: 'https://example.com' })[0]).toMatch(/^WEBAUTHN_RP_ID="https:\/\/example.com": must be a lowercase domain name/)
    expect(issuesOf({ WEBAUTHN_ORIGINS: 'example.com' })[0]).toMatch(/^WEBAUTHN_ORIGINS=.*is not an origin/)
    expect(issuesOf({ WEBAUTHN_RP_NAME: '' })).toEqual([])
  })
})
