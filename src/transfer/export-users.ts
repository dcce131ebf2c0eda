import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { decodeFirebaseScrypt } from '../accounts/legacy-hashes.ts'
import type { ExportedUser, UserTransferStore } from '../store/user-transfer.ts'

const PAGE = 500

/** One record of DESIGN §8, the shape `latchkey users import` reads. */
export function exportRecord(user: ExportedUser, includeHashes: boolean): Record<string, unknown> {
  const record: Record<string, unknown> = {
    email: user.email,
    email_verified: user.emailVerified,
    created_at: new Date(user.createdAt).toISOString(),
    disabled: user.disabled,
  }
  if (user.externalId !== null) record.external_id = user.externalId
  // An account imported without a password has none to export.
  if (includeHashes && user.passwordHash !== '') {
    record.password_hash = user.passwordHash.startsWith('$firebase-scrypt$') ? decodeFirebaseScrypt(user.passwordHash) : user.passwordHash
  }
  return record
}

/**
 * Writes every user as NDJSON, in email order, a page at a time; waits for `out` to drain, so a
 * slow reader never makes the export buffer the store in memory. Returns how many were written.
 */
export async function exportUsers(store: UserTransferStore, out: Writable, includeHashes: boolean): Promise<number> {
  let after: string | null = null
  let count = 0
  for (;;) {
    const page = await store.exportUsers(after, PAGE)
    for (const user of page) {
      if (!out.write(`${JSON.stringify(exportRecord(user, includeHashes))}\n`)) await once(out, 'drain')
      count++
    }
    if (page.length < PAGE) return count
    after = page[page.length - 1]!.email
  }
}
