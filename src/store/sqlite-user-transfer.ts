import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import type { NewAuditEvent } from './store.ts'
import {
  IMPORT_DISABLE_REASON, importDisabledEvents, importEnabledEvent, importedHashDigest, toExportedUser,
  type ImportOptions, type ImportOutcome, type ImportUser, type UserImport, type UserTransferStore,
} from './user-transfer.ts'

type Row = Record<string, SQLInputValue>

/** The store's own statements, run inside a batch's transaction (they open none of their own). */
export interface InBatch {
  insertAudit: (event: NewAuditEvent) => void
  /** Revokes the user's live sessions; returns the ids it revoked. */
  revokeUserSessions: (userId: string, reason: string, now: number) => string[]
}

/** Thrown inside a `fail` batch's transaction to roll it back. */
class ConflictRollback extends Error {}

const bit = (v: boolean | null) => (v === null ? null : v ? 1 : 0)

export function createSqliteUserTransfer(
  db: DatabaseSync,
  transaction: <T>(fn: () => T) => T,
  { insertAudit, revokeUserSessions }: InBatch,
): UserTransferStore {
  let imports = 0
  const exportPage = db.prepare(
    `SELECT email, email_verified, created_at, disabled_at, external_id, password_hash FROM users
     WHERE email > ? ORDER BY email LIMIT ?`,
  )

  return {
    async beginImport(options: ImportOptions): Promise<UserImport> {
      // On the store's own connection: temp tables live in SQLite's temp file, paged through its
      // small cache, so a million emails cost disk, not heap.
      const seenTable = `import_seen_${process.pid}_${++imports}`
      db.exec(`CREATE TEMP TABLE ${seenTable} (email TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID`)
      const stmt = {
        see: db.prepare(`INSERT INTO temp.${seenTable} (email, line) VALUES (?, ?) ON CONFLICT DO NOTHING`),
        seenAt: db.prepare(`SELECT line FROM temp.${seenTable} WHERE email = ?`),
        exists: db.prepare('SELECT 1 FROM users WHERE email = ?'),
        account: db.prepare('SELECT id, disabled_at FROM users WHERE email = ?'),
        insert: db.prepare(
          `INSERT INTO users (id, email, password_hash, scope, created_at, email_verified, disabled_at, external_id, imported_hash_digest)
           VALUES (:id, :email, :hash, 'user', :createdAt, :emailVerified, :disabledAt, :externalId, :digest)
           ON CONFLICT (email) DO NOTHING`,
        ),
        // Only fields the record has; the WHERE makes an identical record a no-op (changes = 0).
        update: db.prepare(
          `UPDATE users SET
             email_verified = coalesce(:emailVerified, email_verified),
             created_at = coalesce(:createdAt, created_at),
             external_id = coalesce(:externalId, external_id),
             disabled_at = CASE WHEN :disabled IS NULL THEN disabled_at WHEN :disabled = 1 THEN coalesce(disabled_at, :now) ELSE NULL END,
             password_hash = CASE WHEN :digest IS NULL OR imported_hash_digest IS :digest THEN password_hash ELSE :hash END,
             imported_hash_digest = coalesce(:digest, imported_hash_digest)
           WHERE email = :email AND (
             (:emailVerified IS NOT NULL AND email_verified IS NOT :emailVerified)
             OR (:createdAt IS NOT NULL AND created_at IS NOT :createdAt)
             OR (:externalId IS NOT NULL AND external_id IS NOT :externalId)
             OR (:disabled IS NOT NULL AND (disabled_at IS NOT NULL) IS NOT (:disabled = 1))
             OR (:digest IS NOT NULL AND imported_hash_digest IS NOT :digest))`,
        ),
      }

      function writeOne(user: ImportUser): ImportOutcome {
        if (stmt.see.run(user.email, user.line).changes === 0) {
          return { outcome: 'duplicate', firstLine: Number((stmt.seenAt.get(user.email) as Row).line) }
        }
        if (options.dryRun) {
          if (!stmt.exists.get(user.email)) return { outcome: 'imported' }
          return { outcome: options.onConflict === 'fail' ? 'conflict' : 'skipped' }
        }
        const digest = user.passwordHash === null ? null : importedHashDigest(user.passwordHash)
        const inserted = stmt.insert.run({
          id: user.id,
          email: user.email,
          hash: user.passwordHash ?? '',
          createdAt: user.createdAt ?? options.now,
          emailVerified: user.emailVerified ? 1 : 0,
          disabledAt: user.disabled ? options.now : null,
          externalId: user.externalId,
          digest,
        })
        if (inserted.changes > 0) return { outcome: 'imported' }
        if (options.onConflict === 'skip') return { outcome: 'skipped' }
        if (options.onConflict === 'fail') throw new ConflictRollback()
        // Read inside the batch's transaction, before the update: whether this write disables or re-enables it.
        const before = user.disabled === null ? undefined : (stmt.account.get(user.email) as Row)
        const changed = stmt.update.run({
          email: user.email,
          emailVerified: bit(user.emailVerified),
          createdAt: user.createdAt,
          externalId: user.externalId,
          disabled: bit(user.disabled),
          now: options.now,
          hash: user.passwordHash,
          digest,
        }).changes
        const outcome = changed > 0 ? 'updated' : 'unchanged'
        if (!before) return { outcome }
        const userId = String(before.id)
        if (user.disabled) {
          // Disabled by this write: its sessions end, and it is audited, in the batch's transaction.
          if (changed > 0 && before.disabled_at === null) {
            const revoked = revokeUserSessions(userId, IMPORT_DISABLE_REASON, options.now)
            for (const event of importDisabledEvents(userId, revoked, options)) insertAudit(event)
          }
          return { outcome, disables: { userId } }
        }
        if (changed > 0 && before.disabled_at !== null) insertAudit(importEnabledEvent(userId, options))
        return { outcome }
      }

      return {
        async writeBatch(users) {
          const outcomes: ImportOutcome[] = []
          try {
            transaction(() => {
              for (const user of users) outcomes.push(writeOne(user))
            })
          } catch (err) {
            if (!(err instanceof ConflictRollback)) throw err
            outcomes.push({ outcome: 'conflict' })
          }
          return outcomes
        },
        async close() {
          if (db.isOpen) db.exec(`DROP TABLE IF EXISTS temp.${seenTable}`)
        },
      }
    },

    async exportUsers(afterEmail, limit) {
      return (exportPage.all(afterEmail ?? '', limit) as Row[]).map(toExportedUser)
    },
  }
}
