/**
 * The transactional outbox (DESIGN §8, issue 17): mail is never sent from a request. A flow writes
 * the message row in the same transaction as the state change that causes it; a drainer
 * (src/mail/outbox-drainer.ts) claims due rows, sends them and marks each sent once. Times are
 * epoch milliseconds passed in by the caller, as everywhere in the store.
 */

export interface NewOutboxMessage {
  id: string
  /** A template name (src/mail/templates/); rendered when sent, so a replaced template applies to queued mail too. */
  template: string
  recipient: string
  /** The template's variables. Holds the link (and so the token) until sent; cleared when the row is marked sent. */
  data: Record<string, string>
  createdAt: number
  /** Never sent after this (a link in it would have expired); pruned some time later. */
  expiresAt: number
}

/** pending: to send (claimed or not); sent: done, its data wiped; failed: gave up after the last attempt. */
export type OutboxStatus = 'pending' | 'sent' | 'failed'

export interface OutboxMessage extends NewOutboxMessage {
  status: OutboxStatus
  attempts: number
  /** A pending message is claimable from this time on; a claim pushes it one lease ahead. */
  nextAttemptAt: number
  lastError: string | null
  sentAt: number | null
}

export interface OutboxClaim {
  now: number
  limit: number
  /** How long the claimed rows stay invisible to other drainers: longer than one send may take. */
  leaseMs: number
  /** Random per claim: only its holder may mark the rows it claimed. */
  claimId: string
}

export interface OutboxFailure {
  now: number
  /** Short, secret-free: stored and shown by `latchkey outbox list`. */
  error: string
  /** When to try again; null gives up (status failed). */
  retryAt: number | null
}

export interface OutboxQuery {
  /** 'expired' = pending past its expiry, never to be sent. */
  status?: OutboxStatus | 'expired'
  now: number
  limit: number
}

export interface OutboxStats {
  /** Pending and not expired. */
  pending: number
  /** createdAt of the oldest of those, or null when there is none. */
  oldestPendingAt: number | null
}

export interface OutboxStore {
  enqueue(messages: readonly NewOutboxMessage[]): Promise<void>
  /**
   * Atomically takes up to `limit` due pending rows (not expired, nextAttemptAt ≤ now), counts an
   * attempt on each and hides them for `leaseMs`. Concurrent claims, from this process or another
   * sharing the database, never return the same row while its lease runs.
   */
  claim(claim: OutboxClaim): Promise<OutboxMessage[]>
  /** Marks the row sent and wipes its data; false when the claim is no longer this one's. */
  markSent(id: string, claimId: string, now: number): Promise<boolean>
  /** Records the error and schedules the next attempt (or gives up); false when the claim is no longer this one's. */
  markFailed(id: string, claimId: string, failure: OutboxFailure): Promise<boolean>
  /** Newest first. */
  list(query: OutboxQuery): Promise<OutboxMessage[]>
  /** A failed (or waiting) message that has not expired becomes due now with its attempts reset; false otherwise. */
  retry(id: string, now: number): Promise<boolean>
  stats(now: number): Promise<OutboxStats>
}
