import { dictionary } from '@zxcvbn-ts/language-common'

export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_BYTES = 1024

// zxcvbn-ts's maintained list of ~49k common passwords, lowercased for a case-insensitive check.
const COMMON_PASSWORDS = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()))

/** Returns why the password is refused, or null when it meets the rules (DESIGN §7). */
export function passwordProblem(password: string, email?: string): string | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return `must be at most ${MAX_PASSWORD_BYTES} bytes`
  const lowered = password.toLowerCase()
  if (COMMON_PASSWORDS.has(lowered)) return 'is too common'
  if (new Set(password).size < 4) return 'has too few distinct characters'
  if (email && lowered === email.toLowerCase()) return 'must not be the email address'
  return null
}

/** Trim, NFKC, lowercase: the one form of an email that the store keys on. */
export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase()
}
