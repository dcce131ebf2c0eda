/**
 * Retention: what the store deletes once it can no longer matter (src/retention-job.ts decides the
 * cut-offs and when to run). Each adapter implements it in sqlite-retention.ts /
 * postgres-retention.ts and passes test/store/retention-conformance.ts.
 *
 * What is never deleted here: audit events (their own policy), users and their factors, and the
 * refresh tokens of a session that has not ended — rotated ones included. Reuse detection is a
 * lookup of the presented token's hash among the session's old hashes: a deleted hash would come
 * back `unknown` instead of `reused`, and the session a thief is using would stay alive. So old
 * hashes live exactly as long as their session, and then retention more.
 */

export const PURGE_KINDS = ['refresh_tokens', 'sessions', 'mfa_challenges', 'webauthn_challenges', 'one_time_tokens', 'outbox_messages'] as const
export type PurgeKind = (typeof PURGE_KINDS)[number]
export type PurgeCounts = Record<PurgeKind, number>

export interface PurgeInput {
  /**
   * Sessions that ended before this — revoked, or past their idle or absolute expiry — are deleted,
   * every refresh token of theirs first. An ended session never comes back (rotation refuses it), so
   * nothing can add a token to one while it is being purged.
   */
  sessionsEndedBefore: number
  /** MFA sign-in challenges and WebAuthn ceremony challenges that expired before this. */
  challengesExpiredBefore: number
  /** Mail-link tokens (used or not) that expired before this. */
  oneTimeTokensExpiredBefore: number
  /** Mail sent before this. */
  mailSentBefore: number
  /** Unsent mail (pending or given up) whose expiry passed before this: nothing can send it any more. */
  mailExpiredBefore: number
  /** Rows deleted per statement, and sessions examined per step: each step is one short transaction. */
  batchSize: number
  /** Checked between batches: an aborted run stops there; what it deleted stays deleted. */
  signal?: AbortSignal
  /** Called after each batch that deleted rows. */
  onBatch?: (kind: PurgeKind, rows: number) => void
}

/** ran: false when another process holds the purge (PostgreSQL advisory lock): nothing was done. */
export interface PurgeResult {
  ran: boolean
  counts: PurgeCounts
}

export interface RetentionStore {
  purge(input: PurgeInput): Promise<PurgeResult>
}

export function emptyCounts(): PurgeCounts {
  return Object.fromEntries(PURGE_KINDS.map((k) => [k, 0])) as PurgeCounts
}

/** A session as the scan sees it: what decides whether (and when) it ended. */
export interface ScannedSession {
  id: string
  revokedAt: number | null
  idleExpiresAt: number
  absoluteExpiresAt: number
}

/** When the session stopped working: its revocation or the earlier of its expiries. */
export function sessionEndedAt(s: Omit<ScannedSession, 'id'>): number {
  return Math.min(s.revokedAt ?? Number.POSITIVE_INFINITY, s.idleExpiresAt, s.absoluteExpiresAt)
}

export type ExpiringKind = Exclude<PurgeKind, 'refresh_tokens' | 'sessions'>

/** The adapter's bounded statements; runPurge strings them together. Each one is atomic on its own. */
export interface PurgeSteps {
  /** Up to `limit` sessions whose id sorts after `after`, in id order. */
  scanSessions(after: string, limit: number): Promise<ScannedSession[]>
  /** Deletes up to `limit` refresh tokens of these sessions; returns how many. */
  deleteTokensOf(sessionIds: readonly string[], limit: number): Promise<number>
  /** Deletes those of these sessions that ended before `endedBefore` and have no token left. */
  deleteSessions(sessionIds: readonly string[], endedBefore: number): Promise<number>
  /** Deletes up to `limit` rows of the kind that the input's cut-offs allow. */
  deleteExpired(kind: ExpiringKind, input: PurgeInput, limit: number): Promise<number>
  /** Between two batches: SQLite yields to the event loop here, so requests run between them. */
  pause(): Promise<void>
}

const EXPIRING_KINDS: readonly ExpiringKind[] = ['mfa_challenges', 'webauthn_challenges', 'one_time_tokens', 'outbox_messages']

/**
 * One purge over the adapter's steps. Sessions are found by walking the whole table in id order,
 * `batchSize` at a time, rather than through an index on their expiry: that index would include
 * idle_expires_at, which every refresh rewrites (in PostgreSQL it would end HOT updates of sessions
 * on the hottest write path), while the walk costs one indexed page read per batch, once a run.
 */
export async function runPurge(steps: PurgeSteps, input: PurgeInput): Promise<PurgeCounts> {
  const counts = emptyCounts()
  const limit = Math.max(1, Math.trunc(input.batchSize))
  const stopped = () => input.signal?.aborted === true
  const record = (kind: PurgeKind, rows: number) => {
    counts[kind] += rows
    if (rows > 0) input.onBatch?.(kind, rows)
  }

  let after = ''
  while (!stopped()) {
    const scanned = await steps.scanSessions(after, limit)
    if (scanned.length === 0) break
    after = scanned[scanned.length - 1]!.id
    const ended = scanned.filter((s) => sessionEndedAt(s) < input.sessionsEndedBefore).map((s) => s.id)
    if (ended.length > 0) {
      // Tokens first (they reference the session), in batches: one long-lived session holds one per refresh.
      for (;;) {
        const deleted = await steps.deleteTokensOf(ended, limit)
        record('refresh_tokens', deleted)
        if (deleted < limit || stopped()) break
        await steps.pause()
      }
      if (stopped()) break
      record('sessions', await steps.deleteSessions(ended, input.sessionsEndedBefore))
    }
    if (scanned.length < limit) break
    await steps.pause()
  }

  for (const kind of EXPIRING_KINDS) {
    while (!stopped()) {
      const deleted = await steps.deleteExpired(kind, input, limit)
      record(kind, deleted)
      if (deleted < limit) break
      await steps.pause()
    }
  }
  return counts
}
