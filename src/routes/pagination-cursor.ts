import { z } from 'zod'
import { AppError } from '../errors.ts'

/**
 * Opaque pagination cursors: base64url of a small JSON object naming the list it belongs to and
 * the key of the last item served. They are validated strictly rather than signed: every list
 * that takes a cursor is admin-only, and a forged cursor only moves the keyset position within
 * data the same admin can read with any other cursor or filter, so a signature would protect
 * nothing. What matters is that a tampered cursor is a clean 400 and never reaches SQL unchecked.
 */

const UsersCursor = z.strictObject({ k: z.literal('users'), e: z.string().min(1).max(320) })
const AuditCursor = z.strictObject({ k: z.literal('audit'), s: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) })

type CursorSchema = typeof UsersCursor | typeof AuditCursor

export const MAX_CURSOR_LENGTH = 600
const BASE64URL = /^[A-Za-z0-9_-]+$/

function encodeCursor<S extends CursorSchema>(value: z.infer<S>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

function decodeCursor<S extends CursorSchema>(schema: S, cursor: string): z.infer<S> {
  const invalid = () => new AppError('invalid_cursor', 'the cursor is not one this list issued; start again without it')
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) throw invalid()
  const bytes = Buffer.from(cursor, 'base64url')
  // Node's decoder skips stray bits; re-encoding catches a non-canonical (edited) cursor.
  if (bytes.toString('base64url') !== cursor) throw invalid()
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw invalid()
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw invalid()
  return parsed.data as z.infer<S>
}

/** The last email of a /admin/users page. */
export const usersCursor = {
  encode: (lastEmail: string) => encodeCursor<typeof UsersCursor>({ k: 'users', e: lastEmail }),
  decode: (cursor: string) => decodeCursor(UsersCursor, cursor).e,
}

/** The last seq of a /admin/audit page: keyset on seq, so inserts made while paging never shift a page. */
export const auditCursor = {
  encode: (lastSeq: number) => encodeCursor<typeof AuditCursor>({ k: 'audit', s: lastSeq }),
  decode: (cursor: string) => decodeCursor(AuditCursor, cursor).s,
}
