import type { Config } from '../config.ts'
import type { OutboxMessage, OutboxQuery } from '../store/outbox.ts'
import { CommandError, UsageError, type CliIo } from './cli-io.ts'
import { withStore } from './cli-store.ts'

const STATUSES = ['pending', 'sent', 'failed', 'expired'] as const

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString())

function statusOf(m: OutboxMessage, now: number): string {
  return m.status === 'pending' && m.expiresAt <= now ? 'expired' : m.status
}

/** `latchkey outbox list`: what waits, what went, what failed and why (no message content: links are secrets). */
export async function listOutbox(config: Config, io: CliIo, status: string | undefined, limitArg: string | undefined): Promise<void> {
  if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`)
  const limit = limitArg === undefined ? 50 : Number(limitArg)
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000')
  const now = io.now().getTime()
  await withStore(config, async (store) => {
    const query: OutboxQuery = { now, limit, ...(status ? { status: status as OutboxQuery['status'] } : {}) }
    const rows = await store.outbox.list(query)
    const stats = await store.outbox.stats(now)
    io.out(`${stats.pending} pending${stats.oldestPendingAt === null ? '' : `, oldest queued ${iso(stats.oldestPendingAt)}`}`)
    if (rows.length === 0) return
    io.out('id\tstatus\ttemplate\trecipient\tattempts\tcreated\tnext attempt\tsent\tlast error')
    for (const m of rows) {
      io.out([m.id, statusOf(m, now), m.template, m.recipient, m.attempts, iso(m.createdAt), m.status === 'pending' ? iso(m.nextAttemptAt) : '-', iso(m.sentAt), m.lastError ?? '-'].join('\t'))
    }
  })
}

/** `latchkey outbox retry <id> | --failed`: due now, attempts reset; a running server sends it at its next poll. */
export async function retryOutbox(config: Config, io: CliIo, id: string | undefined, allFailed: boolean): Promise<void> {
  if ((id === undefined) === !allFailed) throw new UsageError('give one message id, or --failed for every failed message')
  const now = io.now().getTime()
  await withStore(config, async (store) => {
    const ids = id !== undefined ? [id] : (await store.outbox.list({ status: 'failed', now, limit: 10_000 })).map((m) => m.id)
    let retried = 0
    for (const one of ids) if (await store.outbox.retry(one, now)) retried++
    if (id !== undefined && retried === 0) throw new CommandError(`message ${id} cannot be retried: unknown, already sent, or expired`)
    io.out(`${retried} message(s) queued again`)
  })
}
