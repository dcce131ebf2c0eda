import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { mintRefreshToken, openSuccessor, sealSuccessor } from '../../src/tokens/refresh-token.ts'

describe('sealed successors (the grace-window retry)', () => {
  it('open with the token they were sealed under, and with no other', () => {
    const parent = mintRefreshToken()
    const child = mintRefreshToken()
    const sealed = sealSuccessor(parent, child)
    expect(sealed).not.toContain(child)
    expect(openSuccessor(parent, sealed)).toBe(child)
    expect(openSuccessor(mintRefreshToken(), sealed)).toBeNull()
    expect(openSuccessor(parent, `${sealed.slice(0, -2)}AA`)).toBeNull()
  })

  it('still opens a value sealed before v2 (HKDF key), so a retry across an upgrade keeps the session', () => {
    const parent = mintRefreshToken()
    const child = mintRefreshToken()
    const key = Buffer.from(hkdfSync('sha256', parent, '', 'latchkey refresh successor v1', 32))
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    const body = Buffer.concat([cipher.update(child, 'utf8'), cipher.final()])
    const legacy = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
    expect(openSuccessor(parent, legacy)).toBe(child)
    expect(openSuccessor(mintRefreshToken(), legacy)).toBeNull()
  })
})
