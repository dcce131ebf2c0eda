import type { Readable } from 'node:stream'
import type { DisabledByImport, ImportOptions, ImportUser, UserTransferStore } from '../store/user-transfer.ts'
import { isRejection, parseImportRecord, type Rejection } from './import-record.ts'
import { recordsOf, type ImportFormat } from './record-sources.ts'

export interface ImportReport {
  /** Lines read (records and rejected lines; blank lines are not counted). */
  read: number
  imported: number
  updated: number
  unchanged: number
  skipped: number
  rejected: number
  /** `fail` met an existing account: the import stopped, its last batch rolled back. */
  stoppedAtLine: number | null
  dryRun: boolean
}

export interface ImportUsersInput {
  input: Readable
  format: ImportFormat
  store: UserTransferStore
  options: ImportOptions
  /** Records per transaction. Small batches keep memory flat and locks short. */
  batchSize?: number
  /**
   * Called for every refused line; awaited, so a slow rejects file holds the import back. Lines
   * refused on sight come in file order; duplicates and conflicts when their batch is written.
   */
  onReject: (rejection: Rejection) => Promise<void> | void
  /**
   * Called after each batch is committed with the existing accounts its records disable (under
   * `update`): the batch revoked the sessions of those it disabled; this revokes again, as any
   * disable does once the account is disabled (disabled-account.ts). Awaited.
   */
  onAccountsDisabled?: (accounts: DisabledByImport[]) => Promise<void>
  /** Called after each batch is written. */
  onProgress?: (report: Readonly<ImportReport>) => void
}

export const DEFAULT_BATCH_SIZE = 100

/**
 * Streams a file of DESIGN §8 records into the store: validated line by line, written a batch per
 * transaction, duplicates and conflicts found by the store. Memory stays flat whatever the file's
 * size: one batch is held at a time and the file is not read while it is written.
 */
export async function importUsers(input: ImportUsersInput): Promise<ImportReport> {
  const batchSize = input.batchSize ?? DEFAULT_BATCH_SIZE
  const report: ImportReport = { read: 0, imported: 0, updated: 0, unchanged: 0, skipped: 0, rejected: 0, stoppedAtLine: null, dryRun: input.options.dryRun }
  const session = await input.store.beginImport(input.options)
  let batch: ImportUser[] = []

  const reject = async (rejection: Rejection) => {
    report.rejected++
    await input.onReject(rejection)
  }

  /** Returns false when the import must stop (a conflict under `fail`). */
  async function flush(): Promise<boolean> {
    if (batch.length === 0) return true
    const users = batch
    batch = []
    const outcomes = await session.writeBatch(users)
    const conflict = !input.options.dryRun && outcomes.some((o) => o.outcome === 'conflict')
    if (conflict) {
      // The batch was rolled back: only the conflict itself is reported; its other records were not written.
      const at = users[outcomes.length - 1]!
      report.stoppedAtLine = at.line
      await reject({ line: at.line, code: 'email_exists', reason: `an account with email ${at.email} already exists (--on-conflict fail)` })
      return false
    }
    const disabled: DisabledByImport[] = []
    for (const [i, o] of outcomes.entries()) {
      const user = users[i]!
      switch (o.outcome) {
        case 'updated':
        case 'unchanged':
          if (o.disables) disabled.push(o.disables)
          report[o.outcome]++
          break
        case 'imported':
        case 'skipped':
          report[o.outcome]++
          break
        case 'duplicate':
          await reject({ line: user.line, code: 'duplicate_in_file', reason: `email ${user.email} already appeared on line ${o.firstLine}` })
          break
        case 'conflict':
          await reject({ line: user.line, code: 'email_exists', reason: `an account with email ${user.email} already exists (--on-conflict fail)` })
          break
      }
    }
    if (disabled.length > 0) await input.onAccountsDisabled?.(disabled)
    input.onProgress?.(report)
    return true
  }

  try {
    for await (const record of recordsOf(input.input, input.format)) {
      report.read++
      if ('error' in record) {
        await reject({ line: record.line, code: record.error, reason: record.reason })
        continue
      }
      const parsed = parseImportRecord(record.value, record.line)
      if (isRejection(parsed)) {
        await reject(parsed)
        continue
      }
      batch.push(parsed)
      if (batch.length >= batchSize && !(await flush())) return report
    }
    await flush()
    return report
  } finally {
    // A `return` or a throw mid-file leaves the rest unread: release the file.
    input.input.destroy()
    await session.close()
  }
}
