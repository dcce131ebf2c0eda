import type { Pool, PoolClient } from 'pg'
import type { NewOutboxMessage, OutboxStore } from './outbox.ts'
import { toOutboxMessage, type Row } from './rows.ts'

type Queryable = Pick<PoolClient, 'query'>

/** Queues messages on `db`: inside the caller's transaction when `db` is its client. */
export async function insertOutboxMessages(db: Queryable, messages: readonly NewOutboxMessage[]): Promise<void> {
  for (const m of messages) {
    await db.query(
      `INSERT INTO outbox_messages (id, template, recipient, data, created_at, expires_at, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $5)`,
      [m.id, m.template, m.recipient, JSON.stringify(m.data), m.createdAt, m.expiresAt],
    )
  }
}

/**
 * The outbox on PostgreSQL, drained by any number of instances: a claim locks its rows with
 * FOR UPDATE SKIP LOCKED and pushes them one lease ahead in the same statement, so concurrent
 * claimers take disjoint sets and a claimed row stays invisible while it is being sent. Under
 * READ COMMITTED a claimer that reaches a row after another's claim committed re-checks the WHERE
 * on the new row version and passes over it.
 */
export function createPostgresOutboxStore(pool: Pool): OutboxStore {
  return {
    async enqueue(messages) {
      if (messages.length === 1) return insertOutboxMessages(pool, messages)
      const client = await pool.connect()
      let failed: Error | undefined
      try {
        await client.query('BEGIN')
        await insertOutboxMessages(client, messages)
        await client.query('COMMIT')
      } catch (err) {
        failed = err as Error
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release(failed)
      }
    },
    async claim({ now, limit, leaseMs, claimId }) {
      const { rows } = await pool.query<Row>(
        `UPDATE outbox_messages o SET attempts = o.attempts + 1, next_attempt_at = $2, claim_id = $3
         FROM (
           SELECT id FROM outbox_messages
           WHERE status = 'pending' AND next_attempt_at <= $1 AND expires_at > $1
           ORDER BY next_attempt_at, id LIMIT $4
           FOR UPDATE SKIP LOCKED
         ) due
         WHERE o.id = due.id
         RETURNING o.*`,
        [now, now + leaseMs, claimId, limit],
      )
      return rows.map(toOutboxMessage).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
    },
    async markSent(id, claimId, now) {
      const { rowCount } = await pool.query(
        `UPDATE outbox_messages SET status = 'sent', sent_at = $1, data = '{}', claim_id = NULL, last_error = NULL
         WHERE id = $2 AND claim_id = $3 AND status = 'pending'`,
        [now, id, claimId],
      )
      return (rowCount ?? 0) > 0
    },
    async markFailed(id, claimId, { now, error, retryAt }) {
      const { rowCount } = await pool.query(
        `UPDATE outbox_messages SET status = $1, next_attempt_at = $2, last_error = $3, claim_id = NULL
         WHERE id = $4 AND claim_id = $5 AND status = 'pending'`,
        [retryAt === null ? 'failed' : 'pending', retryAt ?? now, error.slice(0, 500), id, claimId],
      )
      return (rowCount ?? 0) > 0
    },
    async list({ status, now, limit }) {
      const where =
        status === undefined ? ['', []] as const :
        status === 'expired' ? ["WHERE status = 'pending' AND expires_at <= $2", [now]] as const :
        status === 'pending' ? ["WHERE status = 'pending' AND expires_at > $2", [now]] as const :
        ['WHERE status = $2', [status]] as const
      const { rows } = await pool.query<Row>(
        `SELECT * FROM outbox_messages ${where[0]} ORDER BY created_at DESC, id DESC LIMIT $1`,
        [limit, ...where[1]],
      )
      return rows.map(toOutboxMessage)
    },
    async retry(id, now) {
      const { rowCount } = await pool.query(
        `UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = $1, claim_id = NULL
         WHERE id = $2 AND status IN ('pending', 'failed') AND expires_at > $1`,
        [now, id],
      )
      return (rowCount ?? 0) > 0
    },
    async stats(now) {
      const { rows } = await pool.query<{ n: string; oldest: string | null }>(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox_messages WHERE status = 'pending' AND expires_at > $1",
        [now],
      )
      const row = rows[0]
      return { pending: Number(row?.n ?? 0), oldestPendingAt: row?.oldest == null ? null : Number(row.oldest) }
    },
  }
}
