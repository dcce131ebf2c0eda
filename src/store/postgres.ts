import pg, { type PoolClient, type PoolConfig } from 'pg'
import { inTransaction } from './pg-transaction.ts'
import { createPostgresFactorStore } from './postgres-factors.ts'
import { createPostgresOneTimeTokenStore } from './postgres-one-time-tokens.ts'
import { createPostgresOutboxStore } from './postgres-outbox.ts'
import { createPostgresPasskeyStore } from './postgres-passkeys.ts'
import { createPostgresRetentionStore } from './postgres-retention.ts'
import { createPostgresUserTransfer } from './postgres-user-transfer.ts'
import { refusal, retryIsGrace, rotationAuditEvent, touched } from './rotation-rules.ts'
import { assertSchemaName, migratePostgres } from './postgres-migrations.ts'
import { isPostgresUnavailable, withUnavailableErrors } from './postgres-unavailable.ts'
import { escapeLike, toAuditEvent, toSession, toUser, type Row } from './rows.ts'
import type {
  AuditQuery,
  NewAuditEvent,
  NewSession,
  NewUser,
  RotateRefreshTokenInput,
  RotateRefreshTokenResult,
  Store,
  User,
  UserQuery,
} from './store.ts'

type Queryable = Pick<PoolClient, 'query'>

export interface PostgresStoreOptions {
  connectionString: string
  /** Every connection's search_path; tables live there. Defaults to the server's (normally `public`). */
  schema?: string
  /** Passed to pg.Pool: max, idleTimeoutMillis, connectionTimeoutMillis, statement_timeout, ssl… */
  pool?: Omit<PoolConfig, 'connectionString' | 'options'>
  /**
   * Errors of idle pooled connections (e.g. the server restarted). pg drops the broken connection
   * and reconnects on the next query; without a listener the error would crash the process.
   */
  onPoolError?: (err: Error) => void
}

export interface PostgresStore extends Store {
  readonly kind: 'postgres'
  /** Applies pending migrations to this store's schema; returns how many ran. */
  migrate(): Promise<number>
}

/**
 * The shared store for several instances, on a pg pool. Does not migrate by itself: call
 * `migrate()` (openStore does) or run `latchkey migrate`. BIGINT columns arrive from pg as strings
 * and are turned into numbers by the shared row mappers (rows.ts).
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  if (options.schema !== undefined) assertSchemaName(options.schema)
  const pool = new pg.Pool({
    ...options.pool,
    connectionString: options.connectionString,
    ...(options.schema !== undefined && { options: `-c search_path=${options.schema}` }),
  })
  pool.on('error', options.onPoolError ?? (() => undefined))
  let closed = false

  // Explicit, not the server default: rotation's row locks rely on READ COMMITTED handing a waiter
  // the winner's committed row, where REPEATABLE READ would raise a serialization failure.
  const transaction = <T>(fn: (client: PoolClient) => Promise<T>): Promise<T> => inTransaction(pool, 'BEGIN ISOLATION LEVEL READ COMMITTED', fn)

  async function one(db: Queryable, sql: string, params: unknown[]): Promise<Row | undefined> {
    return (await db.query<Row>(sql, params)).rows[0]
  }

  async function insertAudit(db: Queryable, event: NewAuditEvent): Promise<void> {
    await db.query(
      `INSERT INTO audit_events (type, at, user_id, actor_id, session_id, ip, user_agent, request_id, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [event.type, event.at, event.userId, event.actorId, event.sessionId, event.ip, event.userAgent, event.requestId,
        JSON.stringify(event.details)],
    )
  }

  /**
   * Revokes the user's live sessions (but `exceptSessionId`). One statement, so it is atomic on its
   * own; rows are locked in id order so two concurrent calls for the same user queue instead of
   * deadlocking.
   */
  async function revokeLiveSessions(db: Queryable, userId: string, reason: string, now: number, exceptSessionId?: string): Promise<string[]> {
    const { rows } = await db.query<{ id: string }>(
      `WITH target AS (
         SELECT id FROM sessions
         WHERE user_id = $1 AND revoked_at IS NULL AND idle_expires_at > $3 AND absolute_expires_at > $3
           AND id IS DISTINCT FROM $4::text
         ORDER BY id FOR NO KEY UPDATE
       )
       UPDATE sessions s SET revoked_at = $3, revoke_reason = $2 FROM target WHERE s.id = target.id
       RETURNING s.id`,
      [userId, reason, now, exceptSessionId ?? null],
    )
    return rows.map((r) => r.id)
  }

  async function userOf(db: Queryable, id: string): Promise<User | null> {
    const row = await one(db, 'SELECT * FROM users WHERE id = $1', [id])
    return row ? toUser(row) : null
  }

  /**
   * Runs inside a READ COMMITTED transaction. Locks are always taken token → session, so
   * concurrent rotations queue on the token row instead of deadlocking; when a waiter gets the
   * lock, Postgres hands it the winner's committed row and it answers `grace`.
   */
  async function rotate(db: Queryable, input: RotateRefreshTokenInput): Promise<RotateRefreshTokenResult> {
    const token = await one(db, 'SELECT * FROM refresh_tokens WHERE hash = $1 FOR UPDATE', [input.tokenHash])
    if (!token) return { outcome: 'unknown' }
    // NO KEY UPDATE: we never change the session's key, so inserting the child token (whose foreign
    // key takes KEY SHARE on the session) does not conflict with it.
    const sessionRow = await one(db, 'SELECT * FROM sessions WHERE id = $1 FOR NO KEY UPDATE', [token.session_id])
    const session = sessionRow ? toSession(sessionRow) : null
    const user = session && (await userOf(db, session.userId))
    const refused = refusal(session, user, input)
    if (refused || !session || !user) return refused ?? { outcome: 'unknown' }

    if (token.rotated_at === null) {
      const next = touched(session, input)
      await db.query('INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)', [
        input.newTokenHash, session.id, input.now,
      ])
      await db.query('UPDATE refresh_tokens SET rotated_at = $1, child_hash = $2, child_sealed = $3 WHERE hash = $4', [
        input.now, input.newTokenHash, input.newTokenSealed, input.tokenHash,
      ])
      await db.query('UPDATE sessions SET last_used_at = $1, idle_expires_at = $2 WHERE id = $3', [
        next.lastUsedAt, next.idleExpiresAt, session.id,
      ])
      return { outcome: 'rotated', session: next, user }
    }

    const child = token.child_hash === null
      ? undefined
      : await one(db, 'SELECT rotated_at FROM refresh_tokens WHERE hash = $1', [token.child_hash])
    const childRotatedAt = child === undefined ? undefined : child.rotated_at === null ? null : Number(child.rotated_at)
    if (retryIsGrace(Number(token.rotated_at), childRotatedAt, token.child_sealed, input)) {
      return { outcome: 'grace', session, user, sealed: token.child_sealed as string }
    }
    await db.query('UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL', [
      input.now, 'refresh_token_reused', session.id,
    ])
    return { outcome: 'reused', session: { ...session, revokedAt: input.now, revokeReason: 'refresh_token_reused' } }
  }

  // Connection failures become DependencyUnavailableError (503 + Retry-After), not 500s.
  return withUnavailableErrors<PostgresStore>({
    kind: 'postgres',
    oneTimeTokens: withUnavailableErrors(createPostgresOneTimeTokenStore(pool, insertAudit), isPostgresUnavailable),
    outbox: withUnavailableErrors(createPostgresOutboxStore(pool), isPostgresUnavailable),
    passkeys: withUnavailableErrors(createPostgresPasskeyStore(pool), isPostgresUnavailable),
    factors: withUnavailableErrors(createPostgresFactorStore(pool), isPostgresUnavailable),
    userTransfer: withUnavailableErrors(createPostgresUserTransfer(pool, { insertAudit, revokeUserSessions: revokeLiveSessions }), isPostgresUnavailable),
    retention: withUnavailableErrors(createPostgresRetentionStore(pool), isPostgresUnavailable),

    async migrate() {
      return migratePostgres(pool, options.schema)
    },

    async createUser(user: NewUser) {
      const row = await one(
        pool,
        `INSERT INTO users (id, email, password_hash, scope, created_at, email_verified) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (email) DO NOTHING RETURNING *`,
        [user.id, user.email, user.passwordHash, user.scope, user.createdAt, user.emailVerified ?? false],
      )
      return row ? toUser(row) : null
    },
    async findUserByEmail(email) {
      const row = await one(pool, 'SELECT * FROM users WHERE email = $1', [email])
      return row ? toUser(row) : null
    },
    async findUserById(id) {
      return userOf(pool, id)
    },
    async updatePasswordHash(userId, passwordHash) {
      await pool.query('UPDATE users SET password_hash = $1 WHERE id = $2', [passwordHash, userId])
    },
    async setUserDisabled(userId, disabledAt) {
      // Under READ COMMITTED a racing UPDATE waits for the row lock, then re-checks the WHERE: one wins.
      const row = disabledAt === null
        ? await one(pool, 'UPDATE users SET disabled_at = NULL WHERE id = $1 AND disabled_at IS NOT NULL RETURNING *', [userId])
        : await one(pool, 'UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL RETURNING *', [disabledAt, userId])
      if (row) return { user: toUser(row), changed: true }
      const user = await userOf(pool, userId)
      return user ? { user, changed: false } : null
    },
    async listUsers(query: UserQuery) {
      const where: string[] = []
      const params: unknown[] = []
      if (query.emailPrefix) {
        params.push(`${escapeLike(query.emailPrefix)}%`)
        where.push(`email LIKE $${params.length} ESCAPE '\\'`)
      }
      if (query.afterEmail !== undefined) {
        params.push(query.afterEmail)
        where.push(`email > $${params.length}`)
      }
      params.push(query.limit)
      const sql = `SELECT * FROM users ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY email LIMIT $${params.length}`
      return (await pool.query<Row>(sql, params)).rows.map(toUser)
    },

    async createSession(session: NewSession) {
      return transaction(async (db) => {
        const row = await one(
          db,
          `INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, dpop_jkt, amr, acr, auth_time, client_id)
           VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
          [session.id, session.userId, session.createdAt, session.idleExpiresAt, session.absoluteExpiresAt, session.userAgent, session.ip, session.dpopJkt ?? null,
            (session.amr ?? ['pwd']).join(' '), session.acr ?? null, session.authTime ?? session.createdAt, session.clientId ?? null],
        )
        await db.query('INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)', [
          session.tokenHash, session.id, session.createdAt,
        ])
        const { rehash } = session
        if (rehash) {
          const updated = await db.query('UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [
            rehash.passwordHash, session.userId, rehash.previousHash,
          ])
          if ((updated.rowCount ?? 0) > 0 && rehash.audit) await insertAudit(db, rehash.audit)
        }
        return toSession(row as Row)
      })
    },
    async rotateRefreshToken(input) {
      return transaction(async (db) => {
        const result = await rotate(db, input)
        const event = rotationAuditEvent(result, input)
        if (event) await insertAudit(db, event)
        return result
      })
    },
    async findSessionByTokenHash(tokenHash) {
      const row = await one(
        pool,
        'SELECT s.* FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id WHERE t.hash = $1',
        [tokenHash],
      )
      return row ? toSession(row) : null
    },
    async findSession(sessionId) {
      const row = await one(pool, 'SELECT * FROM sessions WHERE id = $1', [sessionId])
      return row ? toSession(row) : null
    },
    async listActiveSessions(userId, now) {
      const { rows } = await pool.query<Row>(
        `SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2
         ORDER BY created_at DESC, id DESC`,
        [userId, now],
      )
      return rows.map(toSession)
    },
    async revokeSession(sessionId, reason, now) {
      const { rowCount } = await pool.query(
        'UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL',
        [now, reason, sessionId],
      )
      return (rowCount ?? 0) > 0
    },
    async revokeUserSessions(userId, reason, now, exceptSessionId) {
      return revokeLiveSessions(pool, userId, reason, now, exceptSessionId)
    },

    async countActiveSessions(now) {
      const { rows } = await pool.query<{ n: string }>(
        'SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL AND idle_expires_at > $1 AND absolute_expires_at > $1',
        [now],
      )
      return Number(rows[0]?.n ?? 0)
    },
    async listSessionIdsRevokedSince(userId, since) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM sessions WHERE user_id = $1 AND revoked_at >= $2 ORDER BY id', [userId, since])
      return rows.map((r) => r.id)
    },

    async appendAudit(event: NewAuditEvent) {
      await insertAudit(pool, event)
    },
    async listAudit(query: AuditQuery) {
      const where: string[] = []
      const params: unknown[] = []
      const add = (clause: string, value: unknown) => {
        params.push(value)
        where.push(clause.replace('?', `$${params.length}`))
      }
      if (query.userId !== undefined) add('user_id = ?', query.userId)
      if (query.type !== undefined) add('type = ?', query.type)
      if (query.since !== undefined) add('at >= ?', query.since)
      if (query.until !== undefined) add('at < ?', query.until)
      if (query.beforeSeq !== undefined) add('seq < ?', query.beforeSeq)
      params.push(query.limit)
      const sql = `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`
      return (await pool.query<Row>(sql, params)).rows.map(toAuditEvent)
    },

    async ping() {
      await pool.query('SELECT 1')
    },
    async close() {
      if (closed) return
      closed = true
      await pool.end()
    },
  }, isPostgresUnavailable)
}
