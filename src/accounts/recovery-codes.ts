import { createHash, randomInt } from 'node:crypto'

/**
 * Recovery codes: 10 per enrolment, each 16 characters from a 32-letter alphabet without look-alikes
 * (80 random bits), shown once as `xxxx-xxxx-xxxx-xxxx` and stored only as a hash bound to the
 * account. 80 bits are far beyond guessing, so a fast hash is enough (as for refresh tokens).
 */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'.padEnd(32, '0')
export const RECOVERY_CODE_COUNT = 10

export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const chars = Array.from({ length: 16 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')
    return chars.match(/.{4}/g)!.join('-')
  })
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '')
}

export function hashRecoveryCode(userId: string, code: string): string {
  return createHash('sha256').update(`${userId}:${normalizeRecoveryCode(code)}`).digest('base64url')
}
