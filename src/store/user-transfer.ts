import { createHash } from 'node:crypto'
import type { AuditOrigin, NewAuditEvent } from './store.ts'

/**
 * Bulk import and export of users (`latchkey users import|export`, DESIGN §8). Adapters implement
 * it in sqlite-user-transfer.ts and postgres-user-transfer.ts and pass
 * test/store/user-transfer-conformance.ts.
 */

/** What to do with a record whose email already has an account. */
export type OnConflict = 'skip' | 'update' | 'fail'

/**
 * One validated record. A field left null was absent from the file: an insert takes the default,
 * an update keeps what the account has.
 */
export interface ImportUser {
  /** The record's line in the file, for duplicate reports. */
  line: number
  /** Used when the record creates an account. */
  id: string
  email: string
  emailVerified: boolean | null
  createdAt: number | null
  disabled: boolean | null
  externalId: string | null
  /** The stored form (legacy-hashes.ts); null when the record has none. */
  passwordHash: string | null
}

/**
 * Per record, in the batch's order:
 * - imported: a new account (in a dry run: would be).
 * - updated / unchanged: the email had an account and `update` changed it, or found it identical.
 *   An update that re-enables a disabled account (`disabled: false`) appends its `account_enabled`
 *   event (importEnabledEvent) in the batch's transaction; one that disables an enabled account
 *   (`disabled: true`) revokes its live sessions and appends their `session_revoked` events and its
 *   `account_disabled` event (importDisabledEvents) there too. No changed account without its
 *   events, and a re-run that changes nothing appends nothing.
 * - skipped: the email had an account (`skip`, or any mode in a dry run).
 * - duplicate: an earlier record of this import has the same email (`firstLine`).
 * - conflict: the email had an account under `fail`; the whole batch was rolled back.
 */
export type ImportOutcome =
  | { outcome: 'imported' | 'skipped' | 'conflict' }
  | { outcome: 'updated' | 'unchanged'; disables?: DisabledByImport }
  | { outcome: 'duplicate'; firstLine: number }

/**
 * An existing account whose `update` record says `disabled: true`, changed or not. The batch that
 * disabled it revoked its sessions already; the caller revokes again once the batch is committed,
 * as any disable does (disabled-account.ts): that publishes them to a shared revoked-session set and
 * ends a session a racing sign-in created meanwhile. An unchanged record too, so a re-run after a
 * crash before that second step still converges.
 */
export interface DisabledByImport {
  userId: string
}

export interface UserImport {
  /** Writes one batch in one transaction; under `fail`, a conflict rolls the batch back. */
  writeBatch(users: readonly ImportUser[]): Promise<ImportOutcome[]>
  /** Drops the import's bookkeeping (the emails seen so far). */
  close(): Promise<void>
}

export interface ImportOptions {
  onConflict: OnConflict
  /** Validate and classify only: no account is written. */
  dryRun: boolean
  /** Creation time of accounts whose record has no created_at; time of the audit events the store appends. */
  now: number
  /** Where the import runs from (the CLI), recorded by the audit events the store appends. */
  audit: AuditOrigin
}

export interface ExportedUser {
  email: string
  emailVerified: boolean
  createdAt: number
  disabled: boolean
  externalId: string | null
  passwordHash: string
}

export interface UserTransferStore {
  /**
   * Starts an import. Emails seen by the import are kept by the store (a temporary table), not in
   * memory, so duplicates are found across a file of any size.
   */
  beginImport(options: ImportOptions): Promise<UserImport>
  /** One page of users in email order, after `afterEmail` (keyset pagination). */
  exportUsers(afterEmail: string | null, limit: number): Promise<ExportedUser[]>
}

/**
 * SHA-256 of an imported hash, kept beside the account: a re-run of `update` with the same hash
 * leaves a password alone (even one upgraded to argon2id since), while a new hash replaces it.
 */
export function importedHashDigest(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url')
}

/** The event of an account an import re-enabled, as the admin enable records it but with no actor. */
export function importEnabledEvent(userId: string, options: ImportOptions): NewAuditEvent {
  const { ip, userAgent, requestId } = options.audit
  return { type: 'account_enabled', at: options.now, userId, actorId: null, sessionId: null, ip, userAgent, requestId, details: { via: 'import' } }
}

/** Why the sessions of an account an import disabled were revoked, as for any disable. */
export const IMPORT_DISABLE_REASON = 'account_disabled'

/**
 * The events of an account an import disabled, as the admin disable records them but with no actor:
 * one `session_revoked` per session the batch revoked, then `account_disabled` with their count.
 */
export function importDisabledEvents(userId: string, revokedSessionIds: readonly string[], options: ImportOptions): NewAuditEvent[] {
  const { ip, userAgent, requestId } = options.audit
  const event = { at: options.now, userId, actorId: null, ip, userAgent, requestId }
  return [
    ...revokedSessionIds.map((sessionId): NewAuditEvent => ({ ...event, type: 'session_revoked', sessionId, details: { reason: IMPORT_DISABLE_REASON } })),
    { ...event, type: 'account_disabled', sessionId: null, details: { via: 'import', revoked_sessions: revokedSessionIds.length } },
  ]
}

/** A users row (either adapter) as exported. */
export function toExportedUser(r: Record<string, unknown>): ExportedUser {
  return {
    email: String(r.email),
    emailVerified: r.email_verified === true || Number(r.email_verified) === 1,
    createdAt: Number(r.created_at),
    disabled: r.disabled_at !== null && r.disabled_at !== undefined,
    externalId: r.external_id === null || r.external_id === undefined ? null : String(r.external_id),
    passwordHash: String(r.password_hash),
  }
}
