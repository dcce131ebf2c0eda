import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import type { FactorStore } from './factors.ts'
import { toMfaChallenge, toTotpFactor } from './rows.ts'

type Row = Record<string, SQLInputValue>

/** Second factors on node:sqlite: each method is synchronous, so each conditional UPDATE is atomic in this process. */
export function createSqliteFactorStore(db: DatabaseSync, transaction: <T>(fn: () => T) => T): FactorStore {
  const stmt = {
    totp: db.prepare('SELECT * FROM totp_factors WHERE user_id = ?'),
    begin: db.prepare(
      `INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES (?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at
       WHERE totp_factors.confirmed_at IS NULL`,
    ),
    confirm: db.prepare('UPDATE totp_factors SET confirmed_at = ?, last_used_step = ? WHERE user_id = ? AND confirmed_at IS NULL'),
    reseal: db.prepare('UPDATE totp_factors SET secret_sealed = ? WHERE user_id = ?'),
    useStep: db.prepare(
      'UPDATE totp_factors SET last_used_step = ? WHERE user_id = ? AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < ?)',
    ),
    dropCodes: db.prepare('DELETE FROM recovery_codes WHERE user_id = ?'),
    insertCode: db.prepare('INSERT INTO recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)'),
    useCode: db.prepare('UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL'),
    countCodes: db.prepare('SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL'),
    dropTotp: db.prepare('DELETE FROM totp_factors WHERE user_id = ?'),
    dropChallenges: db.prepare('DELETE FROM mfa_challenges WHERE user_id = ?'),
    insertChallenge: db.prepare('INSERT INTO mfa_challenges (hash, user_id, created_at, expires_at, client_id) VALUES (?, ?, ?, ?, ?)'),
    challenge: db.prepare('SELECT * FROM mfa_challenges WHERE hash = ?'),
    consume: db.prepare('UPDATE mfa_challenges SET consumed_at = ? WHERE hash = ? AND consumed_at IS NULL AND locked_at IS NULL AND expires_at > ?'),
    fail: db.prepare(
      `UPDATE mfa_challenges SET failures = failures + 1,
         locked_at = CASE WHEN locked_at IS NULL AND failures + 1 >= ? THEN ? ELSE locked_at END
       WHERE hash = ? RETURNING failures, locked_at`,
    ),
    // SET reads the row as it was: both CASEs test the old window.
    countAttempt: db.prepare(
      `INSERT INTO mfa_failures (user_id, window_start, failures) VALUES (:user, :now, 1)
       ON CONFLICT (user_id) DO UPDATE SET
         failures = CASE WHEN mfa_failures.window_start + :window <= :now THEN 1 ELSE mfa_failures.failures + 1 END,
         window_start = CASE WHEN mfa_failures.window_start + :window <= :now THEN :now ELSE mfa_failures.window_start END
       RETURNING failures, window_start`,
    ),
    clearFailures: db.prepare('DELETE FROM mfa_failures WHERE user_id = ?'),
  }

  return {
    async beginTotp(userId, secretSealed, now) {
      return stmt.begin.run(userId, secretSealed, now).changes > 0
    },
    async findTotp(userId) {
      const row = stmt.totp.get(userId) as Row | undefined
      return row ? toTotpFactor(row) : null
    },
    async confirmTotp(userId, step, hashes, now) {
      return transaction(() => {
        if (stmt.confirm.run(now, step, userId).changes === 0) return false
        stmt.dropCodes.run(userId)
        for (const hash of hashes) stmt.insertCode.run(userId, hash, now)
        return true
      })
    },
    async resealTotp(userId, secretSealed) {
      stmt.reseal.run(secretSealed, userId)
    },
    async useTotpStep(userId, step) {
      return stmt.useStep.run(step, userId, step).changes > 0
    },
    async useRecoveryCode(userId, codeHash, now) {
      return stmt.useCode.run(now, userId, codeHash).changes > 0
    },
    async countRecoveryCodes(userId) {
      return Number((stmt.countCodes.get(userId) as Row).n)
    },
    async deleteFactors(userId) {
      return transaction(() => {
        const existed = stmt.dropTotp.run(userId).changes > 0
        stmt.dropCodes.run(userId)
        stmt.dropChallenges.run(userId)
        stmt.clearFailures.run(userId)
        return existed
      })
    },
    async createChallenge(c) {
      stmt.insertChallenge.run(c.hash, c.userId, c.createdAt, c.expiresAt, c.clientId ?? null)
    },
    async findChallenge(hash) {
      const row = stmt.challenge.get(hash) as Row | undefined
      return row ? toMfaChallenge(row) : null
    },
    async consumeChallenge(hash, now) {
      return stmt.consume.run(now, hash, now).changes > 0
    },
    async recordChallengeFailure(hash, now, maxFailures) {
      const row = stmt.fail.get(maxFailures, now, hash) as Row | undefined
      return row ? { failures: Number(row.failures), locked: row.locked_at !== null } : null
    },
    async countMfaAttempt(userId, now, windowMs) {
      const row = stmt.countAttempt.get({ user: userId, now, window: windowMs }) as Row
      return { failures: Number(row.failures), windowEndsAt: Number(row.window_start) + windowMs }
    },
    async clearMfaFailures(userId) {
      stmt.clearFailures.run(userId)
    },
  }
}
