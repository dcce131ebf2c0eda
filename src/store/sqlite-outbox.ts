import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import type { NewOutboxMessage, OutboxStore } from './outbox.ts'
import { toOutboxMessage } from './rows.ts'

type Row = Record<string, SQLInputValue>

export interface SqliteOutbox {
  store: OutboxStore
  /** Queues messages inside the caller's transaction. */
  insert(messages: readonly NewOutboxMessage[]): void
  /** Deletes messages by id inside the caller's transaction (the decoy writes of issueForAddress). */
  remove(messages: readonly Pick<NewOutboxMessage, 'id'>[]): void
}

/**
 * The outbox on node:sqlite. A claim is one UPDATE … RETURNING, atomic by itself; with BEGIN
 * IMMEDIATE elsewhere and the busy timeout that also holds across processes sharing the file, but
 * the embedded default runs one drainer (one process).
 */
export function createSqliteOutbox(db: DatabaseSync, transaction: <T>(fn: () => T) => T): SqliteOutbox {
  const stmt = {
    insert: db.prepare(
      `INSERT INTO outbox_messages (id, template, recipient, data, created_at, expires_at, next_attempt_at)
       VALUES (:id, :template, :recipient, :data, :createdAt, :expiresAt, :createdAt)`,
    ),
    claim: db.prepare(
      `UPDATE outbox_messages SET attempts = attempts + 1, next_attempt_at = :until, claim_id = :claimId
       WHERE id IN (
         SELECT id FROM outbox_messages WHERE status = 'pending' AND next_attempt_at <= :now AND expires_at > :now
         ORDER BY next_attempt_at, id LIMIT :limit
       )
       RETURNING *`,
    ),
    markSent: db.prepare(
      `UPDATE outbox_messages SET status = 'sent', sent_at = ?, data = '{}', claim_id = NULL, last_error = NULL
       WHERE id = ? AND claim_id = ? AND status = 'pending'`,
    ),
    markFailed: db.prepare(
      `UPDATE outbox_messages SET status = :status, next_attempt_at = :next, last_error = :error, claim_id = NULL
       WHERE id = :id AND claim_id = :claimId AND status = 'pending'`,
    ),
    remove: db.prepare('DELETE FROM outbox_messages WHERE id = ?'),
    retry: db.prepare(
      `UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = ?, claim_id = NULL
       WHERE id = ? AND status IN ('pending', 'failed') AND expires_at > ?`,
    ),
    stats: db.prepare(
      `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox_messages WHERE status = 'pending' AND expires_at > ?`,
    ),
  }

  function insert(messages: readonly NewOutboxMessage[]): void {
    for (const m of messages) stmt.insert.run({ ...m, data: JSON.stringify(m.data) })
  }

  return {
    insert,
    remove(messages) {
      for (const m of messages) stmt.remove.run(m.id)
    },
    store: {
      async enqueue(messages) {
        transaction(() => insert(messages))
      },
      async claim({ now, limit, leaseMs, claimId }) {
        const rows = stmt.claim.all({ now, limit, until: now + leaseMs, claimId }) as Row[]
        return rows.map(toOutboxMessage).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      },
      async markSent(id, claimId, now) {
        return stmt.markSent.run(now, id, claimId).changes > 0
      },
      async markFailed(id, claimId, { now, error, retryAt }) {
        const result = stmt.markFailed.run({
          id,
          claimId,
          status: retryAt === null ? 'failed' : 'pending',
          next: retryAt ?? now,
          error: error.slice(0, 500),
        })
        return result.changes > 0
      },
      async list({ status, now, limit }) {
        const where =
          status === undefined ? '' :
          status === 'expired' ? "WHERE status = 'pending' AND expires_at <= :now" :
          status === 'pending' ? "WHERE status = 'pending' AND expires_at > :now" :
          'WHERE status = :status'
        const params: Record<string, SQLInputValue> = { limit }
        if (where.includes(':now')) params.now = now
        if (where.includes(':status')) params.status = status ?? null
        const rows = db.prepare(`SELECT * FROM outbox_messages ${where} ORDER BY created_at DESC, id DESC LIMIT :limit`).all(params) as Row[]
        return rows.map(toOutboxMessage)
      },
      async retry(id, now) {
        return stmt.retry.run(now, id, now).changes > 0
      },
      async stats(now) {
        const row = stmt.stats.get(now) as Row
        return { pending: Number(row.n), oldestPendingAt: row.oldest === null ? null : Number(row.oldest) }
      },
    },
  }
}
