import type { DatabaseSync, SQLInputValue } from 'node:sqlite'
import { runPurge, type ExpiringKind, type PurgeInput, type PurgeSteps, type RetentionStore, type ScannedSession } from './retention.ts'

type Row = Record<string, SQLInputValue>

/**
 * Retention on node:sqlite. Every statement deletes at most one batch and runs on its own (each is
 * its own transaction), and between two of them the run leaves the event loop to requests for as
 * long as the last batch took: a purge of millions of rows delays a request by one batch at most
 * and takes at most half of the loop's time. A batch costs about 20 µs a row (a refresh token's
 * hash index is random, so each row dirties a page of its own): ~20 ms per 1,000 on a loaded
 * 2-core machine. Several processes on one file may purge at once: the deletes are conditional, so
 * the second finds less to do, never an error.
 */
export function createSqliteRetentionStore(db: DatabaseSync): RetentionStore {
  const stmt = {
    scan: db.prepare('SELECT id, revoked_at, idle_expires_at, absolute_expires_at FROM sessions WHERE id > ? ORDER BY id LIMIT ?'),
    tokens: db.prepare(
      `DELETE FROM refresh_tokens WHERE rowid IN (
         SELECT rowid FROM refresh_tokens WHERE session_id IN (SELECT value FROM json_each(?)) LIMIT ?
       )`,
    ),
    sessions: db.prepare(
      `DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?))
         AND min(coalesce(revoked_at, idle_expires_at), idle_expires_at, absolute_expires_at) < ?
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id)`,
    ),
    mfa_challenges: db.prepare('DELETE FROM mfa_challenges WHERE rowid IN (SELECT rowid FROM mfa_challenges WHERE expires_at < ? LIMIT ?)'),
    webauthn_challenges: db.prepare('DELETE FROM webauthn_challenges WHERE rowid IN (SELECT rowid FROM webauthn_challenges WHERE expires_at < ? LIMIT ?)'),
    one_time_tokens: db.prepare('DELETE FROM one_time_tokens WHERE rowid IN (SELECT rowid FROM one_time_tokens WHERE expires_at < ? LIMIT ?)'),
    // Both times are at or after created_at, so its index bounds the walk to rows old enough.
    outbox_messages: db.prepare(
      `DELETE FROM outbox_messages WHERE rowid IN (
         SELECT rowid FROM outbox_messages
         WHERE created_at < max(:sentBefore, :expiredBefore)
           AND ((status = 'sent' AND sent_at < :sentBefore) OR (status <> 'sent' AND expires_at < :expiredBefore))
         LIMIT :limit
       )`,
    ),
  }

  let lastBatchMs = 0
  const timed = (run: () => number | bigint): number => {
    const started = performance.now()
    const changes = Number(run())
    lastBatchMs = performance.now() - started
    return changes
  }

  const steps: PurgeSteps = {
    async scanSessions(after, limit) {
      return (stmt.scan.all(after, limit) as Row[]).map((r): ScannedSession => ({
        id: String(r.id),
        revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
        idleExpiresAt: Number(r.idle_expires_at),
        absoluteExpiresAt: Number(r.absolute_expires_at),
      }))
    },
    async deleteTokensOf(sessionIds, limit) {
      return timed(() => stmt.tokens.run(JSON.stringify(sessionIds), limit).changes)
    },
    async deleteSessions(sessionIds, endedBefore) {
      return timed(() => stmt.sessions.run(JSON.stringify(sessionIds), endedBefore).changes)
    },
    async deleteExpired(kind: ExpiringKind, input: PurgeInput, limit) {
      switch (kind) {
        case 'mfa_challenges':
        case 'webauthn_challenges':
          return timed(() => stmt[kind].run(input.challengesExpiredBefore, limit).changes)
        case 'one_time_tokens':
          return timed(() => stmt.one_time_tokens.run(input.oneTimeTokensExpiredBefore, limit).changes)
        case 'outbox_messages':
          return timed(() => stmt.outbox_messages.run({ sentBefore: input.mailSentBefore, expiredBefore: input.mailExpiredBefore, limit }).changes)
      }
    },
    // As long as the last batch took (at least one turn of the loop): requests get half the time.
    pause: () => new Promise((resolve) => (lastBatchMs >= 1 ? setTimeout(resolve, lastBatchMs) : setImmediate(resolve))),
  }

  return {
    async purge(input) {
      return { ran: true, counts: await runPurge(steps, input) }
    },
  }
}
