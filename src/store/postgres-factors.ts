import type { Pool, PoolClient } from 'pg'
import type { FactorStore } from './factors.ts'
import { inTransaction } from './pg-transaction.ts'
import { toMfaChallenge, toTotpFactor, type Row } from './rows.ts'

/** Second factors on PostgreSQL: every check-and-set is one conditional UPDATE, atomic under concurrency. */
export function createPostgresFactorStore(pool: Pool): FactorStore {
  const transaction = <T>(fn: (client: PoolClient) => Promise<T>): Promise<T> => inTransaction(pool, 'BEGIN ISOLATION LEVEL READ COMMITTED', fn)
  return {
    async beginTotp(userId, secretSealed, now) {
      const { rowCount } = await pool.query(
        `INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at
         WHERE totp_factors.confirmed_at IS NULL`,
        [userId, secretSealed, now],
      )
      return (rowCount ?? 0) > 0
    },
    async findTotp(userId) {
      const { rows } = await pool.query<Row>('SELECT * FROM totp_factors WHERE user_id = $1', [userId])
      return rows[0] ? toTotpFactor(rows[0]) : null
    },
    async confirmTotp(userId, step, hashes, now) {
      return transaction(async (db) => {
        const { rowCount } = await db.query('UPDATE totp_factors SET confirmed_at = $1, last_used_step = $2 WHERE user_id = $3 AND confirmed_at IS NULL', [now, step, userId])
        if (!rowCount) return false
        await db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId])
        await db.query('INSERT INTO recovery_codes (user_id, hash, created_at) SELECT $1, unnest($2::text[]), $3', [userId, [...hashes], now])
        return true
      })
    },
    async resealTotp(userId, secretSealed) {
      await pool.query('UPDATE totp_factors SET secret_sealed = $1 WHERE user_id = $2', [secretSealed, userId])
    },
    async useTotpStep(userId, step) {
      const { rowCount } = await pool.query(
        'UPDATE totp_factors SET last_used_step = $1 WHERE user_id = $2 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $1)',
        [step, userId],
      )
      return (rowCount ?? 0) > 0
    },
    async useRecoveryCode(userId, codeHash, now) {
      const { rowCount } = await pool.query('UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at IS NULL', [now, userId, codeHash])
      return (rowCount ?? 0) > 0
    },
    async countRecoveryCodes(userId) {
      const { rows } = await pool.query<{ n: string }>('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL', [userId])
      return Number(rows[0]?.n ?? 0)
    },
    async deleteFactors(userId) {
      return transaction(async (db) => {
        const { rowCount } = await db.query('DELETE FROM totp_factors WHERE user_id = $1', [userId])
        await db.query('DELETE FROM recovery_codes WHERE user_id = $1', [userId])
        await db.query('DELETE FROM mfa_challenges WHERE user_id = $1', [userId])
        await db.query('DELETE FROM mfa_failures WHERE user_id = $1', [userId])
        return (rowCount ?? 0) > 0
      })
    },
    async createChallenge(c) {
      await pool.query('INSERT INTO mfa_challenges (hash, user_id, created_at, expires_at, client_id) VALUES ($1, $2, $3, $4, $5)', [c.hash, c.userId, c.createdAt, c.expiresAt, c.clientId ?? null])
    },
    async findChallenge(hash) {
      const { rows } = await pool.query<Row>('SELECT * FROM mfa_challenges WHERE hash = $1', [hash])
      return rows[0] ? toMfaChallenge(rows[0]) : null
    },
    async consumeChallenge(hash, now) {
      const { rowCount } = await pool.query(
        'UPDATE mfa_challenges SET consumed_at = $1 WHERE hash = $2 AND consumed_at IS NULL AND locked_at IS NULL AND expires_at > $1',
        [now, hash],
      )
      return (rowCount ?? 0) > 0
    },
    async recordChallengeFailure(hash, now, maxFailures) {
      const { rows } = await pool.query<Row>(
        `UPDATE mfa_challenges SET failures = failures + 1,
           locked_at = CASE WHEN locked_at IS NULL AND failures + 1 >= $1 THEN $2 ELSE locked_at END
         WHERE hash = $3 RETURNING failures, locked_at`,
        [maxFailures, now, hash],
      )
      const row = rows[0]
      return row ? { failures: Number(row.failures), locked: row.locked_at !== null } : null
    },
    async countMfaAttempt(userId, now, windowMs) {
      // One upsert: concurrent attempts on one account queue on its row, none is lost. SET reads the old row.
      const { rows } = await pool.query<Row>(
        `INSERT INTO mfa_failures (user_id, window_start, failures) VALUES ($1, $2, 1)
         ON CONFLICT (user_id) DO UPDATE SET
           failures = CASE WHEN mfa_failures.window_start + $3 <= $2 THEN 1 ELSE mfa_failures.failures + 1 END,
           window_start = CASE WHEN mfa_failures.window_start + $3 <= $2 THEN $2 ELSE mfa_failures.window_start END
         RETURNING failures, window_start`,
        [userId, now, windowMs],
      )
      const row = rows[0]!
      return { failures: Number(row.failures), windowEndsAt: Number(row.window_start) + windowMs }
    },
    async clearMfaFailures(userId) {
      await pool.query('DELETE FROM mfa_failures WHERE user_id = $1', [userId])
    },
  }
}
