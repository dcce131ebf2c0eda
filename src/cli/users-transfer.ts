import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import type { Readable, Writable } from 'node:stream'
import { createAuditLog } from '../accounts/audit-log.ts'
import { createSessionService } from '../accounts/session-service.ts'
import type { Config } from '../config.ts'
import type { OnConflict } from '../store/user-transfer.ts'
import { exportUsers } from '../transfer/export-users.ts'
import type { Rejection } from '../transfer/import-record.ts'
import { importUsers, type ImportReport } from '../transfer/import-users.ts'
import type { ImportFormat } from '../transfer/record-sources.ts'
import { CommandError, UsageError, type CliIo } from './cli-io.ts'
import { CLI_CONTEXT, withStore } from './cli-store.ts'

export interface ImportCommandOptions {
  format?: string | undefined
  dryRun: boolean
  onConflict?: string | undefined
  rejects?: string | undefined
}

/** Rejections shown on stderr when no --rejects file is given; the rest are counted. */
const STDERR_REJECTS = 50

/** The FILE argument that reads stdin instead of a file. */
const STDIN = '-'

function formatOf(file: string, format: string | undefined): ImportFormat {
  if (format === undefined) return file !== STDIN && file.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson'
  if (format !== 'ndjson' && format !== 'csv') throw new UsageError(`--format must be ndjson or csv (got ${format})`)
  return format
}

function onConflictOf(value: string | undefined): OnConflict {
  if (value === undefined) return 'skip'
  if (value !== 'skip' && value !== 'update' && value !== 'fail') throw new UsageError(`--on-conflict must be skip, update or fail (got ${value})`)
  return value
}

async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await once(out, 'drain')
}

function summary(r: ImportReport): string {
  const verb = r.dryRun ? 'dry run, nothing written: would import' : 'imported'
  return `${verb} ${r.imported}, updated ${r.updated}, unchanged ${r.unchanged}, skipped ${r.skipped} (email exists), rejected ${r.rejected} — ${r.read} line(s) read`
}

/**
 * The records to import and their size when known (a file; not a pipe). Stdin is read as it comes,
 * like a file: `importUsers` pulls a chunk only when the previous batch is written, so a pipe of
 * any length holds one batch in memory and the producer waits on the pipe meanwhile.
 */
async function openInput(io: CliIo, file: string): Promise<{ input: Readable & { bytesRead?: number }; size: number | null }> {
  if (file === STDIN) {
    if (!io.stdin) throw new CommandError('no stdin to import from')
    if (io.stdin.isTTY) throw new UsageError('"-" reads the records from stdin: pipe or redirect them (e.g. `latchkey users import - < users.ndjson`)')
    return { input: io.stdin, size: null }
  }
  let size: number
  try {
    size = (await stat(file)).size
  } catch {
    throw new CommandError(`cannot read ${file}`)
  }
  return { input: createReadStream(file, { highWaterMark: 64 * 1024 }), size }
}

/** `latchkey users import FILE|-`: streams NDJSON or CSV records (DESIGN §8) into the store. */
export async function importUsersCommand(config: Config, io: CliIo, file: string, opts: ImportCommandOptions): Promise<void> {
  const format = formatOf(file, opts.format)
  const onConflict = onConflictOf(opts.onConflict)
  const { input, size } = await openInput(io, file)
  const rejectsOut = opts.rejects === undefined ? undefined : createWriteStream(opts.rejects)
  let shown = 0
  const onReject = async (r: Rejection) => {
    if (rejectsOut) await writeLine(rejectsOut, JSON.stringify(r))
    else if (shown++ < STDERR_REJECTS) io.err(`line ${r.line}: ${r.code}: ${r.reason}`)
  }
  let lastDrawn = 0
  const progress = io.progress
  const onProgress = progress
    ? (r: Readonly<ImportReport>) => {
        const now = performance.now()
        if (now - lastDrawn < 200) return
        lastDrawn = now
        const counts = `${r.read} lines  ${r.imported + r.updated} written  ${r.rejected} rejected`
        // A pipe has no size to measure against: counts only.
        if (size === null) return progress(counts)
        const done = size === 0 ? 1 : Math.min(1, (input.bytesRead ?? 0) / size)
        const bar = '#'.repeat(Math.round(done * 30)).padEnd(30, '.')
        progress(`[${bar}] ${(done * 100).toFixed(0).padStart(3)}%  ${counts}`)
      }
    : undefined

  const now = io.now().getTime()
  let report: ImportReport
  try {
    report = await withStore(config, async (store) => {
      const clock = { now: () => now }
      const audit = createAuditLog(store, clock)
      const sessions = createSessionService({ store, clock, audit })
      const result = await importUsers({
        input,
        format,
        store: store.userTransfer,
        // The store audits an account_enabled, or revokes the sessions and audits an account_disabled
        // (no actor, as the admin route's), in the batch that re-enables or disables the account.
        options: { onConflict, dryRun: opts.dryRun, now, audit: audit.origin(CLI_CONTEXT) },
        onReject,
        // Once committed, as any disable (disabled-account.ts): publishes the revocations, ends racing sign-ins.
        onAccountsDisabled: async (accounts) => {
          for (const { userId } of accounts) await sessions.revokeAll(userId, 'account_disabled', CLI_CONTEXT, { actorId: null })
        },
        ...(onProgress && { onProgress }),
      })
      if (!opts.dryRun && result.imported + result.updated > 0) {
        await audit.record('users_imported', CLI_CONTEXT, {
          details: { via: 'cli', imported: result.imported, updated: result.updated, skipped: result.skipped, rejected: result.rejected },
        })
      }
      return result
    })
  } finally {
    progress?.('')
    if (rejectsOut) {
      rejectsOut.end()
      await finished(rejectsOut)
    }
  }
  io.out(summary(report))
  if (!rejectsOut && report.rejected > STDERR_REJECTS) io.err(`… and ${report.rejected - STDERR_REJECTS} more rejected line(s): pass --rejects FILE to keep them all`)
  if (report.stoppedAtLine !== null) {
    throw new CommandError(`stopped at line ${report.stoppedAtLine}: its email already has an account (--on-conflict fail); that batch was rolled back, earlier ones are kept — re-run with --on-conflict skip or update to go on`)
  }
  if (report.rejected > 0) throw new CommandError(`${report.rejected} line(s) rejected${opts.rejects ? `: see ${opts.rejects}` : ''}`)
}

/** `latchkey users export`: every user as NDJSON on stdout, password hashes only when asked. */
export async function exportUsersCommand(config: Config, io: CliIo, includeHashes: boolean): Promise<void> {
  const out = io.stdout
  if (!out) throw new CommandError('no stdout to export to')
  await withStore(config, (store) => exportUsers(store.userTransfer, out, includeHashes))
}
