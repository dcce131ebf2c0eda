import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import { oneTimeTokenRefusal, type ConsumeOneTimeTokenResult, type OneTimeTokenStore } from './one-time-tokens.ts'
import { toOneTimeToken, toUser } from './rows.ts'
import type { SqliteOutbox } from './sqlite-outbox.ts'
import type { NewAuditEvent, User } from './store.ts'

type Row = Record<string, SQLInputValue>

/** No account has this id (they are UUIDs): what an unknown address's decoy writes name. */
const DECOY_USER_ID = 'decoy'

/**
 * Single-use tokens on node:sqlite. Every method is one synchronous transaction, so nothing else in
 * this process interleaves with it, and BEGIN IMMEDIATE serialises it against other processes.
 */
export function createSqliteOneTimeTokenStore(
  db: DatabaseSync,
  transaction: <T>(fn: () => T) => T,
  outbox: SqliteOutbox,
  insertAudit: (event: NewAuditEvent) => void,
): OneTimeTokenStore {
  const stmt = {
    insertUser: db.prepare(
      `INSERT INTO users (id, email, password_hash, scope, created_at, email_verified)
       VALUES (:id, :email, :passwordHash, :scope, :createdAt, :emailVerified) ON CONFLICT (email) DO NOTHING`,
    ),
    userById: db.prepare('SELECT * FROM users WHERE id = ?'),
    userWithEmail: db.prepare('SELECT * FROM users WHERE email = ?'),
    userByEmail: db.prepare('SELECT id FROM users WHERE email = ? AND id <> ?'),
    insert: db.prepare(
      `INSERT INTO one_time_tokens (hash, purpose, user_id, email, created_at, expires_at)
       VALUES (:hash, :purpose, :userId, :email, :createdAt, :expiresAt)`,
    ),
    dropPurpose: db.prepare('DELETE FROM one_time_tokens WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL'),
    dropOthers: db.prepare('DELETE FROM one_time_tokens WHERE user_id = ? AND consumed_at IS NULL AND hash <> ?'),
    byHash: db.prepare('SELECT * FROM one_time_tokens WHERE hash = ?'),
    consume: db.prepare('UPDATE one_time_tokens SET consumed_at = ? WHERE hash = ? AND consumed_at IS NULL'),
    verify: db.prepare('UPDATE users SET email_verified = 1 WHERE id = ?'),
    changeEmail: db.prepare('UPDATE users SET email = ?, email_verified = 1 WHERE id = ?'),
    resetPassword: db.prepare('UPDATE users SET password_hash = ?, email_verified = 1 WHERE id = ?'),
    dropAll: db.prepare('DELETE FROM one_time_tokens WHERE user_id = ? AND consumed_at IS NULL'),
    dropVerify: db.prepare("DELETE FROM one_time_tokens WHERE user_id = ? AND purpose = 'verify_email' AND consumed_at IS NULL"),
    dropByHash: db.prepare('DELETE FROM one_time_tokens WHERE hash = ?'),
    oldestUser: db.prepare('SELECT id FROM users ORDER BY rowid LIMIT 1'),
  }

  const userOf = (id: string): User | null => {
    const row = stmt.userById.get(id) as Row | undefined
    return row ? toUser(row) : null
  }

  return {
    async issue({ token, messages, newUser }) {
      return transaction(() => {
        if (newUser) {
          const created = stmt.insertUser.run({ ...newUser, emailVerified: newUser.emailVerified ? 1 : 0 })
          if (created.changes === 0) return { issued: false, reason: 'email_taken' } as const
        }
        stmt.dropPurpose.run(token.userId, token.purpose)
        stmt.insert.run({ ...token })
        outbox.insert(messages)
        return { issued: true } as const
      })
    },

    async issueForAddress({ email, token, messages, audit }) {
      return transaction(() => {
        const row = stmt.userWithEmail.get(email) as Row | undefined
        const user = row ? toUser(row) : null
        const issue = user !== null && user.disabledAt === null
        if (issue) {
          stmt.dropPurpose.run(user.id, token.purpose)
          stmt.insert.run({ ...token, userId: user.id })
          outbox.insert(messages)
        } else {
          // Work of the same size, undone before the commit, so an unknown address costs what a
          // known one does. The dearest part of either is the commit, whose cost follows the pages
          // the transaction dirtied (two write calls per page). A known address's token row dirties
          // its table and three indexes, one of them at a random place (the hash), so the decoy
          // writes a token row too and deletes it again: on behalf of the oldest account, since the
          // foreign key wants a real one (the row is gone before the commit, so no one ever sees it).
          // WAL frames per call: 13.2 for a known address; 8.7 for an unknown one when outbox rows
          // were the only decoys, 12.5 with the token row. The second outbox row evens out the CPU
          // of the statements (bench/mail.ts: 0.98–1.08x, known over unknown).
          const decoys = [...messages, { ...messages[0]!, id: `${messages[0]!.id}-decoy` }]
          stmt.dropPurpose.run(DECOY_USER_ID, token.purpose)
          outbox.insert(decoys)
          outbox.remove(decoys)
          const stand = stmt.oldestUser.get() as Row | undefined
          if (stand) {
            const decoyHash = `${token.hash}-decoy`
            stmt.insert.run({ ...token, hash: decoyHash, userId: stand.id as string })
            stmt.dropByHash.run(decoyHash)
          }
        }
        insertAudit(audit(user))
        return issue ? user : null
      })
    },

    async consume(input) {
      return transaction((): ConsumeOneTimeTokenResult => {
        const row = stmt.byHash.get(input.hash) as Row | undefined
        const token = row ? toOneTimeToken(row) : null
        const refused = oneTimeTokenRefusal(token, input)
        if (refused || !token) return refused ?? { outcome: 'unknown' }
        const user = userOf(token.userId)
        if (!user) return { outcome: 'unknown' }
        if (user.disabledAt !== null) return { outcome: 'disabled' }
        switch (token.purpose) {
          case 'verify_email':
            // A link to an address the account no longer has proves nothing about the current one.
            if (user.email === token.email) stmt.verify.run(user.id)
            break
          case 'change_email':
            if (stmt.userByEmail.get(token.email, user.id)) return { outcome: 'email_taken' }
            stmt.changeEmail.run(token.email, user.id)
            break
          case 'reset_password':
            if (input.newPasswordHash === undefined) throw new Error('reset_password needs newPasswordHash')
            stmt.resetPassword.run(input.newPasswordHash, user.id)
            break
        }
        stmt.consume.run(input.now, token.hash)
        // A new password or a new address voids every other link; a verification voids none.
        if (token.purpose !== 'verify_email') stmt.dropOthers.run(user.id, token.hash)
        const after = userOf(user.id) as User
        const consumed = { ...token, consumedAt: input.now }
        outbox.insert(input.notices?.(after, consumed) ?? [])
        return { outcome: 'consumed', token: consumed, user: after }
      })
    },

    async invalidateForUser(userId) {
      return Number(stmt.dropAll.run(userId).changes)
    },

    async markEmailVerified(userId) {
      return transaction(() => {
        if (!userOf(userId)) return null
        stmt.verify.run(userId)
        stmt.dropVerify.run(userId)
        return userOf(userId)
      })
    },
  }
}
