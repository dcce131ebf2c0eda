import type { Pool, PoolClient } from 'pg'
import { inTransaction } from './pg-transaction.ts'
import { oneTimeTokenRefusal, type ConsumeOneTimeTokenResult, type OneTimeTokenStore } from './one-time-tokens.ts'
import { insertOutboxMessages } from './postgres-outbox.ts'
import { toOneTimeToken, toUser, type Row } from './rows.ts'
import type { NewAuditEvent, User } from './store.ts'

type Queryable = Pick<PoolClient, 'query'>

const UNIQUE_VIOLATION = '23505'
/** No account has this id (they are UUIDs): the owner of the writes an unknown address undoes. */
const DECOY_USER_ID = 'decoy'

async function userOf(db: Queryable, id: string, lock = ''): Promise<User | null> {
  const { rows } = await db.query<Row>(`SELECT * FROM users WHERE id = $1 ${lock}`, [id])
  return rows[0] ? toUser(rows[0]) : null
}

/**
 * Single-use tokens on PostgreSQL. consume() locks the token row, then the user row (always in
 * that order), so two presentations of one token queue and the second sees it consumed.
 */
export function createPostgresOneTimeTokenStore(pool: Pool, insertAudit: (db: Queryable, event: NewAuditEvent) => Promise<void>): OneTimeTokenStore {
  const transaction = <T>(fn: (client: PoolClient) => Promise<T>): Promise<T> => inTransaction(pool, 'BEGIN ISOLATION LEVEL READ COMMITTED', fn)

  return {
    async issue({ token, messages, newUser }) {
      return transaction(async (db) => {
        if (newUser) {
          const { rowCount } = await db.query(
            `INSERT INTO users (id, email, password_hash, scope, created_at, email_verified) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (email) DO NOTHING`,
            [newUser.id, newUser.email, newUser.passwordHash, newUser.scope, newUser.createdAt, newUser.emailVerified ?? false],
          )
          if (!rowCount) return { issued: false, reason: 'email_taken' } as const
        }
        await db.query('DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL', [token.userId, token.purpose])
        await db.query(
          'INSERT INTO one_time_tokens (hash, purpose, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [token.hash, token.purpose, token.userId, token.email, token.createdAt, token.expiresAt],
        )
        await insertOutboxMessages(db, messages)
        return { issued: true } as const
      })
    },

    async issueForAddress({ email, token, messages, audit }) {
      return transaction(async (db) => {
        const { rows } = await db.query<Row>('SELECT * FROM users WHERE email = $1', [email])
        const user = rows[0] ? toUser(rows[0]) : null
        const issue = user !== null && user.disabledAt === null
        if (issue) {
          await db.query('DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL', [user.id, token.purpose])
          await db.query(
            'INSERT INTO one_time_tokens (hash, purpose, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
            [token.hash, token.purpose, user.id, token.email, token.createdAt, token.expiresAt],
          )
          await insertOutboxMessages(db, messages)
        } else {
          // As many statements, undone before the commit, so an unknown address takes this process
          // as much work (and the transaction as many round trips) as a known one.
          await db.query('DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND consumed_at IS NULL', [DECOY_USER_ID, token.purpose])
          await insertOutboxMessages(db, messages)
          await db.query('DELETE FROM outbox_messages WHERE id = ANY($1)', [messages.map((m) => m.id)])
        }
        await insertAudit(db, audit(user))
        return issue ? user : null
      })
    },

    async consume(input) {
      try {
        return await transaction(async (db): Promise<ConsumeOneTimeTokenResult> => {
          const { rows } = await db.query<Row>('SELECT * FROM one_time_tokens WHERE hash = $1 FOR UPDATE', [input.hash])
          const token = rows[0] ? toOneTimeToken(rows[0]) : null
          const refused = oneTimeTokenRefusal(token, input)
          if (refused || !token) return refused ?? { outcome: 'unknown' }
          const user = await userOf(db, token.userId, 'FOR NO KEY UPDATE')
          if (!user) return { outcome: 'unknown' }
          if (user.disabledAt !== null) return { outcome: 'disabled' }
          switch (token.purpose) {
            case 'verify_email':
              if (user.email === token.email) await db.query('UPDATE users SET email_verified = true WHERE id = $1', [user.id])
              break
            case 'change_email': {
              const taken = await db.query('SELECT 1 FROM users WHERE email = $1 AND id <> $2', [token.email, user.id])
              if (taken.rowCount) return { outcome: 'email_taken' }
              await db.query('UPDATE users SET email = $1, email_verified = true WHERE id = $2', [token.email, user.id])
              break
            }
            case 'reset_password':
              if (input.newPasswordHash === undefined) throw new Error('reset_password needs newPasswordHash')
              await db.query('UPDATE users SET password_hash = $1, email_verified = true WHERE id = $2', [input.newPasswordHash, user.id])
              break
          }
          await db.query('UPDATE one_time_tokens SET consumed_at = $1 WHERE hash = $2', [input.now, token.hash])
          // A new password or a new address voids every other link; a verification voids none.
          if (token.purpose !== 'verify_email') {
            await db.query('DELETE FROM one_time_tokens WHERE user_id = $1 AND consumed_at IS NULL AND hash <> $2', [user.id, token.hash])
          }
          const after = (await userOf(db, user.id)) as User
          const consumed = { ...token, consumedAt: input.now }
          await insertOutboxMessages(db, input.notices?.(after, consumed) ?? [])
          return { outcome: 'consumed', token: consumed, user: after }
        })
      } catch (err) {
        // Another account took the address between our check and our update.
        if ((err as { code?: string }).code === UNIQUE_VIOLATION) return { outcome: 'email_taken' }
        throw err
      }
    },

    async invalidateForUser(userId) {
      const { rowCount } = await pool.query('DELETE FROM one_time_tokens WHERE user_id = $1 AND consumed_at IS NULL', [userId])
      return rowCount ?? 0
    },

    async markEmailVerified(userId) {
      return transaction(async (db) => {
        const { rows } = await db.query<Row>('UPDATE users SET email_verified = true WHERE id = $1 RETURNING *', [userId])
        if (!rows[0]) return null
        await db.query("DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = 'verify_email' AND consumed_at IS NULL", [userId])
        return toUser(rows[0])
      })
    },
  }
}
