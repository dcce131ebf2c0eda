import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { encodeFirebaseScrypt, LegacyHashError, parseLegacyHash } from '../accounts/legacy-hashes.ts'
import { normalizeEmail } from '../accounts/password-policy.ts'
import type { ImportUser } from '../store/user-transfer.ts'

/** Why a line was refused: a stable code for scripts, a reason for people. */
export type RejectCode = 'invalid_json' | 'invalid_csv' | 'invalid_record' | 'invalid_email' | 'unknown_hash_format' | 'duplicate_in_file' | 'email_exists'

export interface Rejection {
  line: number
  code: RejectCode
  reason: string
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const emailSchema = z.email()
const MAX_EXTERNAL_ID = 255

class RecordError extends Error {
  readonly code: RejectCode
  constructor(code: RejectCode, message: string) {
    super(message)
    this.code = code
  }
}

function optionalBoolean(value: unknown, field: string): boolean | null {
  if (value === undefined || value === null || value === '') return null
  if (typeof value === 'boolean') return value
  // CSV cells are text.
  if (value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  throw new RecordError('invalid_record', `${field} must be true or false`)
}

function passwordHashOf(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null
  try {
    if (typeof value === 'string' && value.startsWith('{')) value = JSON.parse(value) as unknown // a CSV cell holding the Firebase object
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const record = value as Record<string, unknown>
      if (record.algorithm !== 'firebase-scrypt') throw new LegacyHashError('a password_hash object must have "algorithm": "firebase-scrypt"')
      return encodeFirebaseScrypt(record)
    }
    if (typeof value !== 'string') throw new LegacyHashError('password_hash must be a string or a firebase-scrypt object')
    parseLegacyHash(value)
    return value
  } catch (err) {
    if (err instanceof LegacyHashError || err instanceof SyntaxError) throw new RecordError('unknown_hash_format', `password_hash: ${err.message}`)
    throw err
  }
}

/**
 * Validates one record (a parsed NDJSON object or a CSV row) into an account to write, or says why
 * not. Fields other than DESIGN §8's are ignored, so a lightly mapped export of another system loads.
 */
export function parseImportRecord(value: unknown, line: number): ImportUser | Rejection {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RecordError('invalid_record', 'a record must be a JSON object')
    const r = value as Record<string, unknown>
    if (typeof r.email !== 'string' || r.email === '') throw new RecordError('invalid_email', 'email is missing')
    const email = normalizeEmail(r.email)
    if (!emailSchema.safeParse(email).success) throw new RecordError('invalid_email', `email ${JSON.stringify(r.email.slice(0, 100))} is not an email address`)
    let createdAt: number | null = null
    if (r.created_at !== undefined && r.created_at !== null && r.created_at !== '') {
      const parsed = typeof r.created_at === 'string' && RFC3339.test(r.created_at) ? Date.parse(r.created_at) : Number.NaN
      if (!Number.isFinite(parsed)) throw new RecordError('invalid_record', 'created_at must be an RFC 3339 date-time')
      createdAt = parsed
    }
    let externalId: string | null = null
    if (r.external_id !== undefined && r.external_id !== null && r.external_id !== '') {
      if (typeof r.external_id !== 'string' && typeof r.external_id !== 'number') throw new RecordError('invalid_record', 'external_id must be a string')
      externalId = String(r.external_id)
      if (externalId.length > MAX_EXTERNAL_ID) throw new RecordError('invalid_record', `external_id is longer than ${MAX_EXTERNAL_ID} characters`)
    }
    return {
      line,
      id: randomUUID(),
      email,
      emailVerified: optionalBoolean(r.email_verified, 'email_verified'),
      createdAt,
      disabled: optionalBoolean(r.disabled, 'disabled'),
      externalId,
      passwordHash: passwordHashOf(r.password_hash),
    }
  } catch (err) {
    if (err instanceof RecordError) return { line, code: err.code, reason: err.message }
    throw err
  }
}

export function isRejection(value: ImportUser | Rejection): value is Rejection {
  return 'code' in value
}
