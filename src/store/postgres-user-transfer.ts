import type { Pool, PoolClient } from 'pg'
import type { NewAuditEvent } from './store.ts'
import {
  IMPORT_DISABLE_REASON, importDisabledEvents, importEnabledEvent, importedHashDigest, toExportedUser,
  type ImportOptions, type ImportOutcome, type ImportUser, type UserImport, type UserTransferStore,
} from './user-transfer.ts'

type Queryable = Pick<PoolClient, 'query'>

/** The store's own statements, run on the import's connection inside a batch's transaction. */
export interface InBatch {
  insertAudit: (db: Queryable, event: NewAuditEvent) => Promise<void>
  /** Revokes the user's live sessions; returns the ids it revoked. */
  revokeUserSessions: (db: Queryable, userId: string, reason: string, now: number) => Promise<string[]>
}

/** One statement for a batch's existing accounts under `update`; only changed rows come back. */
const UPDATE_USERS = `
  UPDATE users u SET
    email_verified = coalesce(t.verified, u.email_verified),
    created_at = coalesce(t.created_at, u.created_at),
    external_id = coalesce(t.external_id, u.external_id),
    disabled_at = CASE WHEN t.disabled IS NULL THEN u.disabled_at WHEN t.disabled THEN coalesce(u.disabled_at, $8) ELSE NULL END,
    password_hash = CASE WHEN t.digest IS NULL OR u.imported_hash_digest IS NOT DISTINCT FROM t.digest THEN u.password_hash ELSE t.hash END,
    imported_hash_digest = coalesce(t.digest, u.imported_hash_digest)
  FROM unnest($1::text[], $2::boolean[], $3::bigint[], $4::text[], $5::boolean[], $6::text[], $7::text[])
    AS t(email, verified, created_at, external_id, disabled, hash, digest)
  WHERE u.email = t.email AND (
    (t.verified IS NOT NULL AND u.email_verified IS DISTINCT FROM t.verified)
    OR (t.created_at IS NOT NULL AND u.created_at IS DISTINCT FROM t.created_at)
    OR (t.external_id IS NOT NULL AND u.external_id IS DISTINCT FROM t.external_id)
    OR (t.disabled IS NOT NULL AND (u.disabled_at IS NOT NULL) IS DISTINCT FROM t.disabled)
    OR (t.digest IS NOT NULL AND u.imported_hash_digest IS DISTINCT FROM t.digest))
  RETURNING u.email`

/**
 * The import holds one pooled connection for its whole run: the emails it has seen live in a
 * temporary table of that session. Each batch is one transaction of a few array statements
 * (unnest), not a round trip per record.
 */
export function createPostgresUserTransfer(pool: Pool, inBatch: InBatch): UserTransferStore {
  return {
    async beginImport(options: ImportOptions): Promise<UserImport> {
      const client = await pool.connect()
      try {
        await client.query('CREATE TEMP TABLE IF NOT EXISTS import_seen (email TEXT COLLATE "C" PRIMARY KEY, line INT NOT NULL)')
        await client.query('TRUNCATE pg_temp.import_seen')
      } catch (err) {
        client.release(err as Error)
        throw err
      }
      let failed: Error | undefined
      return {
        async writeBatch(users) {
          try {
            await client.query('BEGIN')
            const outcomes = await writeBatch(client, users, options, inBatch)
            await client.query(outcomes.some((o) => o.outcome === 'conflict') && !options.dryRun ? 'ROLLBACK' : 'COMMIT')
            return outcomes
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined)
            failed = err as Error
            throw err
          }
        },
        async close() {
          if (!failed) await client.query('DROP TABLE IF EXISTS pg_temp.import_seen').catch((err: Error) => (failed = err))
          client.release(failed)
        },
      }
    },

    async exportUsers(afterEmail, limit) {
      const { rows } = await pool.query(
        `SELECT email, email_verified, created_at, disabled_at, external_id, password_hash FROM users
         WHERE email > $1 ORDER BY email LIMIT $2`,
        [afterEmail ?? '', limit],
      )
      return rows.map(toExportedUser)
    },
  }
}

async function writeBatch(
  client: PoolClient,
  users: readonly ImportUser[],
  options: ImportOptions,
  { insertAudit, revokeUserSessions }: InBatch,
): Promise<ImportOutcome[]> {
  const outcomes: Array<ImportOutcome | undefined> = new Array(users.length)
  // First occurrence within the batch (a map of at most one batch), then across batches (the table).
  const firstInBatch = new Map<string, number>()
  const fresh: number[] = []
  users.forEach((u, i) => {
    const first = firstInBatch.get(u.email)
    if (first === undefined) {
      firstInBatch.set(u.email, u.line)
      fresh.push(i)
    } else {
      outcomes[i] = { outcome: 'duplicate', firstLine: first }
    }
  })
  const emails = fresh.map((i) => users[i]!.email)
  const seen = await client.query<{ email: string }>(
    'INSERT INTO pg_temp.import_seen (email, line) SELECT * FROM unnest($1::text[], $2::int[]) ON CONFLICT (email) DO NOTHING RETURNING email',
    [emails, fresh.map((i) => users[i]!.line)],
  )
  const newlySeen = new Set(seen.rows.map((r) => r.email))
  const earlier = emails.filter((e) => !newlySeen.has(e))
  if (earlier.length > 0) {
    const lines = await client.query<{ email: string; line: number }>('SELECT email, line FROM pg_temp.import_seen WHERE email = ANY($1::text[])', [earlier])
    const lineOf = new Map(lines.rows.map((r) => [r.email, r.line]))
    for (const i of fresh) {
      const line = newlySeen.has(users[i]!.email) ? undefined : lineOf.get(users[i]!.email)
      if (line !== undefined) outcomes[i] = { outcome: 'duplicate', firstLine: line }
    }
  }
  const candidates = fresh.filter((i) => outcomes[i] === undefined)
  const rows = candidates.map((i) => users[i]!)

  let created: Set<string>
  if (options.dryRun) {
    const existing = await client.query<{ email: string }>('SELECT email FROM users WHERE email = ANY($1::text[])', [rows.map((u) => u.email)])
    const taken = new Set(existing.rows.map((r) => r.email))
    created = new Set(rows.map((u) => u.email).filter((e) => !taken.has(e)))
  } else {
    const inserted = await client.query<{ email: string }>(
      `INSERT INTO users (id, email, password_hash, scope, created_at, email_verified, disabled_at, external_id, imported_hash_digest)
       SELECT id, email, hash, 'user', created_at, verified, disabled_at, external_id, digest
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $6::bigint[], $7::text[], $8::text[])
         AS t(id, email, hash, created_at, verified, disabled_at, external_id, digest)
       ON CONFLICT (email) DO NOTHING RETURNING email`,
      [
        rows.map((u) => u.id),
        rows.map((u) => u.email),
        rows.map((u) => u.passwordHash ?? ''),
        rows.map((u) => u.createdAt ?? options.now),
        rows.map((u) => u.emailVerified === true),
        rows.map((u) => (u.disabled ? options.now : null)),
        rows.map((u) => u.externalId),
        rows.map((u) => (u.passwordHash === null ? null : importedHashDigest(u.passwordHash))),
      ],
    )
    created = new Set(inserted.rows.map((r) => r.email))
  }

  const existing: number[] = []
  for (const i of candidates) {
    const user = users[i]!
    if (created.has(user.email)) {
      outcomes[i] = { outcome: 'imported' }
    } else if (options.onConflict === 'fail') {
      outcomes[i] = { outcome: 'conflict' }
      // Under fail the batch is rolled back: report up to the first conflict, as SQLite does.
      if (!options.dryRun) return outcomes.slice(0, i + 1).map((o) => o ?? { outcome: 'imported' })
    } else if (options.onConflict === 'skip' || options.dryRun) {
      outcomes[i] = { outcome: 'skipped' }
    } else {
      existing.push(i)
    }
  }
  if (existing.length > 0) {
    const rows = existing.map((i) => users[i]!)
    // Locked and read before the update, in the batch's transaction: whether this write disables or re-enables them.
    const disabling = rows.filter((u) => u.disabled !== null).map((u) => u.email)
    const before = disabling.length === 0
      ? new Map<string, { id: string; enabled: boolean }>()
      : new Map((await client.query<{ id: string; email: string; enabled: boolean }>(
        'SELECT id, email, disabled_at IS NULL AS enabled FROM users WHERE email = ANY($1::text[]) ORDER BY email FOR UPDATE',
        [disabling],
      )).rows.map((r) => [r.email, r]))
    const updated = await client.query<{ email: string }>(UPDATE_USERS, [
      rows.map((u) => u.email),
      rows.map((u) => u.emailVerified),
      rows.map((u) => u.createdAt),
      rows.map((u) => u.externalId),
      rows.map((u) => u.disabled),
      rows.map((u) => u.passwordHash),
      rows.map((u) => (u.passwordHash === null ? null : importedHashDigest(u.passwordHash))),
      options.now,
    ])
    const changed = new Set(updated.rows.map((r) => r.email))
    for (const i of existing) {
      const email = users[i]!.email
      const outcome = changed.has(email) ? 'updated' : 'unchanged'
      const account = before.get(email)
      // Rare (an account disabled or re-enabled by a file): a few statements each, in the batch's transaction.
      if (account && users[i]!.disabled) {
        outcomes[i] = { outcome, disables: { userId: account.id } }
        if (account.enabled && changed.has(email)) {
          // User row locked above, sessions now: no other path locks a session, then waits on its user.
          const revoked = await revokeUserSessions(client, account.id, IMPORT_DISABLE_REASON, options.now)
          for (const event of importDisabledEvents(account.id, revoked, options)) await insertAudit(client, event)
        }
      } else {
        outcomes[i] = { outcome }
        if (account && !account.enabled && changed.has(email)) await insertAudit(client, importEnabledEvent(account.id, options))
      }
    }
  }
  return outcomes as ImportOutcome[]
}
