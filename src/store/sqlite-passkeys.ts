import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import { toPasskey, toWebauthnChallenge } from './passkey-rows.ts'
import { webauthnChallengeRefusal, type ConsumeWebauthnChallengeResult, type PasskeyStore } from './passkeys.ts'

type Row = Record<string, SQLInputValue>

const DECOY_KEY = 'passkey_decoy_key'

/** Passkeys and WebAuthn challenges on node:sqlite; each method is synchronous, so none interleaves with another. */
export function createSqlitePasskeyStore(db: DatabaseSync, transaction: <T>(fn: () => T) => T): PasskeyStore {
  const stmt = {
    insert: db.prepare(
      `INSERT INTO passkeys (id, user_id, credential_id, public_key, counter, transports, backed_up, device_type, aaguid, name, created_at)
       VALUES (:id, :userId, :credentialId, :publicKey, :counter, :transports, :backedUp, :deviceType, :aaguid, :name, :createdAt)
       ON CONFLICT (credential_id) DO NOTHING`,
    ),
    byId: db.prepare('SELECT * FROM passkeys WHERE id = ?'),
    byCredentialId: db.prepare('SELECT * FROM passkeys WHERE credential_id = ?'),
    forUser: db.prepare('SELECT * FROM passkeys WHERE user_id = ? ORDER BY created_at, id'),
    recordUse: db.prepare(
      `UPDATE passkeys SET counter = :counter, backed_up = :backedUp, last_used_at = :now
       WHERE id = :id AND (counter < :counter OR (counter = 0 AND :counter = 0))`,
    ),
    flag: db.prepare('UPDATE passkeys SET counter_regressed_at = COALESCE(counter_regressed_at, ?) WHERE id = ?'),
    rename: db.prepare('UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?'),
    remove: db.prepare('DELETE FROM passkeys WHERE id = ? AND user_id = ?'),
    insertChallenge: db.prepare(
      `INSERT INTO webauthn_challenges (hash, purpose, user_id, created_at, expires_at)
       VALUES (:hash, :purpose, :userId, :createdAt, :expiresAt)`,
    ),
    challenge: db.prepare('SELECT * FROM webauthn_challenges WHERE hash = ?'),
    consume: db.prepare('UPDATE webauthn_challenges SET consumed_at = ? WHERE hash = ? AND consumed_at IS NULL'),
    insertSecret: db.prepare('INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    secret: db.prepare('SELECT value FROM server_secrets WHERE name = ?'),
  }
  const passkeyById = (id: string) => {
    const row = stmt.byId.get(id) as Row | undefined
    return row ? toPasskey(row) : null
  }

  return {
    async create(passkey) {
      const inserted = stmt.insert.run({ ...passkey, transports: passkey.transports.join(','), backedUp: passkey.backedUp ? 1 : 0 })
      return inserted.changes === 0 ? null : passkeyById(passkey.id)
    },
    async findByCredentialId(credentialId) {
      const row = stmt.byCredentialId.get(credentialId) as Row | undefined
      return row ? toPasskey(row) : null
    },
    async listForUser(userId) {
      return (stmt.forUser.all(userId) as Row[]).map(toPasskey)
    },
    async recordUse({ id, counter, backedUp, now }) {
      return stmt.recordUse.run({ id, counter, backedUp: backedUp ? 1 : 0, now }).changes > 0
    },
    async flagCounterRegression(id, now) {
      stmt.flag.run(now, id)
    },
    async rename(userId, id, name) {
      return stmt.rename.run(name, id, userId).changes > 0 ? passkeyById(id) : null
    },
    async remove(userId, id) {
      return stmt.remove.run(id, userId).changes > 0
    },
    async issueChallenge(challenge) {
      stmt.insertChallenge.run({ ...challenge })
    },
    async consumeChallenge(input) {
      return transaction((): ConsumeWebauthnChallengeResult => {
        const row = stmt.challenge.get(input.hash) as Row | undefined
        const challenge = row ? toWebauthnChallenge(row) : null
        const refused = webauthnChallengeRefusal(challenge, input)
        if (refused || !challenge) return refused ?? { outcome: 'unknown' }
        stmt.consume.run(input.now, input.hash)
        return { outcome: 'consumed', challenge: { ...challenge, consumedAt: input.now } }
      })
    },
    async decoyKey(candidate) {
      stmt.insertSecret.run(DECOY_KEY, candidate)
      return String((stmt.secret.get(DECOY_KEY) as Row).value)
    },
  }
}
