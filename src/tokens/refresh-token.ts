import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto'
import { randomBase64url, randomBuffer } from './random-bytes.ts'

/**
 * Opaque refresh tokens: a recognisable prefix and 256 random bits, stored only as a SHA-256 hash.
 *
 * On rotation the successor's plaintext is sealed (AES-256-GCM) with a key derived from the token
 * being rotated, and kept beside that token's hash. A retry with the same token inside the grace
 * window can then be answered with the very same successor, while the database alone — which holds
 * no plaintext token — can never open it.
 */
export const REFRESH_TOKEN_PREFIX = 'lkr_'
const REFRESH_TOKEN_SHAPE = /^lkr_[A-Za-z0-9_-]{43}$/

export function mintRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBase64url(32)
}

/** True when the string could be one of our tokens; anything else is refused without a lookup. */
export function isRefreshTokenShaped(value: string): boolean {
  return REFRESH_TOKEN_SHAPE.test(value)
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/**
 * The AES-256 key that seals a token's successor: HMAC-SHA256 keyed by the token. The token holds
 * 256 random bits, so the PRF output is a uniform key with no extract step needed; one HMAC costs a
 * refresh a third of what HKDF (two HMACs plus a KeyObject per call) did.
 */
function sealingKey(parentToken: string): Buffer {
  return createHmac('sha256', parentToken).update('latchkey refresh successor v2').digest()
}

/**
 * The key values were sealed with before v2 (HKDF). A rotation sealed just before an upgrade can be
 * retried for one grace window after it, so it must still open; this can go in a later release.
 */
function legacySealingKey(parentToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', parentToken, '', 'latchkey refresh successor v1', 32))
}

export function sealSuccessor(parentToken: string, successor: string): string {
  const iv = randomBuffer(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(parentToken), iv)
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** Returns null when the sealed value does not open with this token. */
export function openSuccessor(parentToken: string, sealed: string): string | null {
  return open(sealingKey(parentToken), sealed) ?? open(legacySealingKey(parentToken), sealed)
}

function open(key: Buffer, sealed: string): string | null {
  try {
    const raw = Buffer.from(sealed, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
