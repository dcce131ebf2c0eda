import type { Pool } from 'pg'
import { toPasskey, toWebauthnChallenge } from './passkey-rows.ts'
import { webauthnChallengeRefusal, type PasskeyStore } from './passkeys.ts'
import type { Row } from './rows.ts'

const DECOY_KEY = 'passkey_decoy_key'

/**
 * Passkeys and WebAuthn challenges on PostgreSQL. Spending a challenge and advancing a counter are
 * each one conditional UPDATE, so concurrent requests on any number of instances cannot both win.
 */
export function createPostgresPasskeyStore(pool: Pool): PasskeyStore {
  const passkeyById = async (id: string) => {
    const { rows } = await pool.query<Row>('SELECT * FROM passkeys WHERE id = $1', [id])
    return rows[0] ? toPasskey(rows[0]) : null
  }
  return {
    async create(p) {
      const { rows } = await pool.query<Row>(
        `INSERT INTO passkeys (id, user_id, credential_id, public_key, counter, transports, backed_up, device_type, aaguid, name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (credential_id) DO NOTHING RETURNING *`,
        [p.id, p.userId, p.credentialId, p.publicKey, p.counter, p.transports.join(','), p.backedUp, p.deviceType, p.aaguid, p.name, p.createdAt],
      )
      return rows[0] ? toPasskey(rows[0]) : null
    },
    async findByCredentialId(credentialId) {
      const { rows } = await pool.query<Row>('SELECT * FROM passkeys WHERE credential_id = $1', [credentialId])
      return rows[0] ? toPasskey(rows[0]) : null
    },
    async listForUser(userId) {
      const { rows } = await pool.query<Row>('SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id', [userId])
      return rows.map(toPasskey)
    },
    async recordUse({ id, counter, backedUp, now }) {
      const { rowCount } = await pool.query(
        `UPDATE passkeys SET counter = $2, backed_up = $3, last_used_at = $4
         WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`,
        [id, counter, backedUp, now],
      )
      return (rowCount ?? 0) > 0
    },
    async flagCounterRegression(id, now) {
      await pool.query('UPDATE passkeys SET counter_regressed_at = COALESCE(counter_regressed_at, $2) WHERE id = $1', [id, now])
    },
    async rename(userId, id, name) {
      const { rowCount } = await pool.query('UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2', [id, userId, name])
      return rowCount ? passkeyById(id) : null
    },
    async remove(userId, id) {
      const { rowCount } = await pool.query('DELETE FROM passkeys WHERE id = $1 AND user_id = $2', [id, userId])
      return (rowCount ?? 0) > 0
    },
    async issueChallenge(c) {
      await pool.query('INSERT INTO webauthn_challenges (hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        c.hash, c.purpose, c.userId, c.createdAt, c.expiresAt,
      ])
    },
    async consumeChallenge(input) {
      const { rows } = await pool.query<Row>(
        `UPDATE webauthn_challenges SET consumed_at = $3
         WHERE hash = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3 RETURNING *`,
        [input.hash, input.purpose, input.now],
      )
      if (rows[0]) return { outcome: 'consumed', challenge: toWebauthnChallenge(rows[0]) }
      // Lost: say why, from the row as it is now (a concurrent winner shows as used).
      const found = await pool.query<Row>('SELECT * FROM webauthn_challenges WHERE hash = $1', [input.hash])
      const challenge = found.rows[0] ? toWebauthnChallenge(found.rows[0]) : null
      return webauthnChallengeRefusal(challenge, input) ?? { outcome: 'used' }
    },
    async decoyKey(candidate) {
      // One statement: the first instance's candidate wins, every other reads it back.
      const { rows } = await pool.query<{ value: string }>(
        `WITH ins AS (INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value)
         SELECT value FROM ins UNION ALL SELECT value FROM server_secrets WHERE name = $1 LIMIT 1`,
        [DECOY_KEY, candidate],
      )
      return String(rows[0]!.value)
    },
  }
}
