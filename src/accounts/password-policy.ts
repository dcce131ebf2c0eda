import { createRequire } from 'node:module'

export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_BYTES = 1024

let commonPasswords: ReadonlySet<string> | undefined

/**
 * zxcvbn-ts's maintained list of ~49k common passwords, lowercased for a case-insensitive check.
 * Loaded on the first password check (a registration or a password change), not at start: an
 * instance that only verifies tokens never holds it.
 */
function isCommonPassword(lowered: string): boolean {
  if (!commonPasswords) {
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common')
    commonPasswords = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()))
  }
  return commonPasswords.has(lowered)
}

/** Returns why the password is refused, or null when it meets the rules (DESIGN §7). */
export function passwordProblem(password: string, email?: string): string | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`
  const lowered = password.toLowerCase()
  if (isCommonPassword(lowered)) return 'is too common'
  if (new Set(password).size < 4) return 'has too few distinct characters'
  if (email && lowered === email.toLowerCase()) return 'must not be the email address'
  return null
}

/** Trim, NFKC, lowercase: the one form of an email that the store keys on. */
export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase()
}
