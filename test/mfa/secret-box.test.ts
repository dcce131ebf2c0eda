import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSecretBox, parseDataKey } from '../../src/accounts/secret-box.ts'
import { loadConfig } from '../../src/config.ts'
import { totpAt, RFC6238_SEED_BASE32 } from '../helpers/totp.ts'

describe('secrets at rest (AES-256-GCM)', () => {
  const a = randomBytes(32)
  const b = randomBytes(32)

  it('seals so that the plaintext is not in the stored value, and opens it again', () => {
    const box = createSecretBox({ current: a, previous: [] })
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp:u1')
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP')
    expect(sealed).not.toBe(box.seal('JBSWY3DPEHPK3PXP', 'totp:u1'))
    expect(box.open(sealed, 'totp:u1')).toEqual({ plaintext: 'JBSWY3DPEHPK3PXP', stale: false })
  })

  it('refuses a value moved to another owner, tampered with, or sealed by an unknown key', () => {
    const box = createSecretBox({ current: a, previous: [] })
    const sealed = box.seal('secret', 'totp:u1')
    expect(() => box.open(sealed, 'totp:u2')).toThrow()
    const parts = sealed.split('.')
    parts[3] = Buffer.from('tampered').toString('base64url')
    expect(() => box.open(parts.join('.'), 'totp:u1')).toThrow()
    expect(() => createSecretBox({ current: b, previous: [] }).open(sealed, 'totp:u1')).toThrow(/DATA_ENCRYPTION_PREVIOUS_KEYS/)
  })

  it('rotates: a previous key still opens (marked stale, to be sealed again), the new key seals', () => {
    const old = createSecretBox({ current: a, previous: [] }).seal('secret', 'totp:u1')
    const rotated = createSecretBox({ current: b, previous: [a] })
    expect(rotated.open(old, 'totp:u1')).toEqual({ plaintext: 'secret', stale: true })
    expect(rotated.open(rotated.seal('secret', 'totp:u1'), 'totp:u1').stale).toBe(false)
  })

  it('reads DATA_ENCRYPTION_KEY as 32 bytes of base64url, and never prints a bad one', () => {
    const key = randomBytes(32).toString('base64url')
    expect(parseDataKey(key)?.length).toBe(32)
    expect(parseDataKey(randomBytes(16).toString('base64url'))).toBeNull()
    const config = loadConfig({ DATA_ENCRYPTION_KEY: key, DATA_ENCRYPTION_PREVIOUS_KEYS: `${randomBytes(32).toString('base64url')}, ${randomBytes(32).toString('base64url')}` })
    expect(config.dataEncryption.current?.equals(Buffer.from(key, 'base64url'))).toBe(true)
    expect(config.dataEncryption.previous).toHaveLength(2)
    const bad = 'short-and-secret'
    expect(() => loadConfig({ DATA_ENCRYPTION_KEY: bad })).toThrow(/DATA_ENCRYPTION_KEY=<not shown>/)
  })
})

describe('the test TOTP helper', () => {
  it('matches RFC 6238 Appendix B (SHA-1, T=59 s → …287082)', () => {
    expect(totpAt(RFC6238_SEED_BASE32, 59_000)).toBe('287082')
    expect(totpAt(RFC6238_SEED_BASE32, 1_111_111_109_000)).toBe('081804')
  })
})
