import type { Pool, PoolClient } from 'pg'
import type { Row } from './rows.ts'
import { emptyCounts, runPurge, type ExpiringKind, type PurgeInput, type PurgeSteps, type RetentionStore } from './retention.ts'

/**
 * One purge at a time per schema, whichever instance starts it: a session-level advisory lock,
 * taken with pg_try_advisory_lock so a second instance skips its run instead of queueing behind
 * the first. The key names the schema, so deployments sharing a database do not skip each other.
 * The lock lives as long as the connection holding it: a crashed purger frees it.
 */
const TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('latchkey:purge:' || current_schema())) AS locked"
const UNLOCK = "SELECT pg_advisory_unlock(hashtext('latchkey:purge:' || current_schema()))"

/**
 * Retention on PostgreSQL. Every statement deletes at most one batch in its own (implicit)
 * transaction, so row locks are held for one batch only and never escalate into a long lock on a
 * table that refreshes are writing; vacuum reclaims the space as the run goes.
 */
export function createPostgresRetentionStore(pool: Pool): RetentionStore {
  function stepsOn(db: PoolClient): PurgeSteps {
    const count = async (sql: string, params: unknown[]) => (await db.query(sql, params)).rowCount ?? 0
    return {
      async scanSessions(after, limit) {
        const { rows } = await db.query<Row>(
          'SELECT id, revoked_at, idle_expires_at, absolute_expires_at FROM sessions WHERE id > $1 ORDER BY id LIMIT $2',
          [after, limit],
        )
        return rows.map((r) => ({
          id: String(r.id),
          revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
          idleExpiresAt: Number(r.idle_expires_at),
          absoluteExpiresAt: Number(r.absolute_expires_at),
        }))
      },
      deleteTokensOf: (sessionIds, limit) =>
        count('DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE session_id = ANY($1::text[]) LIMIT $2)', [sessionIds, limit]),
      deleteSessions: (sessionIds, endedBefore) =>
        count(
          `DELETE FROM sessions s WHERE s.id = ANY($1::text[])
             AND LEAST(COALESCE(s.revoked_at, s.idle_expires_at), s.idle_expires_at, s.absolute_expires_at) < $2
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)`,
          [sessionIds, endedBefore],
        ),
      deleteExpired(kind: ExpiringKind, input: PurgeInput, limit) {
        switch (kind) {
          case 'mfa_challenges':
            return count('DELETE FROM mfa_challenges WHERE hash IN (SELECT hash FROM mfa_challenges WHERE expires_at < $1 LIMIT $2)', [input.challengesExpiredBefore, limit])
          case 'webauthn_challenges':
            return count('DELETE FROM webauthn_challenges WHERE hash IN (SELECT hash FROM webauthn_challenges WHERE expires_at < $1 LIMIT $2)', [input.challengesExpiredBefore, limit])
          case 'one_time_tokens':
            return count('DELETE FROM one_time_tokens WHERE hash IN (SELECT hash FROM one_time_tokens WHERE expires_at < $1 LIMIT $2)', [input.oneTimeTokensExpiredBefore, limit])
          case 'outbox_messages':
            // Both times are at or after created_at, so its index bounds the walk to rows old enough.
            return count(
              `DELETE FROM outbox_messages WHERE id IN (
                 SELECT id FROM outbox_messages
                 WHERE created_at < GREATEST($1::bigint, $2::bigint)
                   AND ((status = 'sent' AND sent_at < $1) OR (status <> 'sent' AND expires_at < $2))
                 LIMIT $3
               )`,
              [input.mailSentBefore, input.mailExpiredBefore, limit],
            )
        }
      },
      pause: async () => undefined,
    }
  }

  return {
    async purge(input) {
      const db = await pool.connect()
      let failed: Error | undefined
      try {
        const { rows } = await db.query<{ locked: boolean }>(TRY_LOCK)
        if (!rows[0]?.locked) return { ran: false, counts: emptyCounts() }
        try {
          return { ran: true, counts: await runPurge(stepsOn(db), input) }
        } finally {
          await db.query(UNLOCK).catch((err: Error) => (failed = err))
        }
      } catch (err) {
        failed = err as Error
        throw err
      } finally {
        // A connection that failed is dropped, and its lock with it.
        db.release(failed)
      }
    },
  }
}
