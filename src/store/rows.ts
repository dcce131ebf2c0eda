import type { MfaChallenge, TotpFactor } from './factors.ts'
import type { OneTimeToken } from './one-time-tokens.ts'
import type { OutboxMessage } from './outbox.ts'
import type { AuditEvent, Session, User } from './store.ts'

/**
 * Row → domain mappers shared by the SQL adapters. Both use the same snake_case columns; integer
 * columns may arrive as numbers, bigints or strings (pg returns BIGINT as text), and epoch ms and
 * audit seqs stay far below 2^53, so Number() is exact.
 */
export type Row = Record<string, unknown>

function nullableNumber(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v)
}

function nullableString(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v)
}

export function toUser(r: Row): User {
  return {
    id: String(r.id),
    email: String(r.email),
    passwordHash: String(r.password_hash),
    scope: String(r.scope),
    createdAt: Number(r.created_at),
    disabledAt: nullableNumber(r.disabled_at),
    // SQLite stores 0/1, pg a boolean.
    emailVerified: r.email_verified === true || Number(r.email_verified) === 1,
  }
}

export function toOneTimeToken(r: Row): OneTimeToken {
  return {
    hash: String(r.hash),
    purpose: String(r.purpose) as OneTimeToken['purpose'],
    userId: String(r.user_id),
    email: String(r.email),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    consumedAt: nullableNumber(r.consumed_at),
  }
}

export function toOutboxMessage(r: Row): OutboxMessage {
  return {
    id: String(r.id),
    template: String(r.template),
    recipient: String(r.recipient),
    data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as OutboxMessage['data'],
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    status: String(r.status) as OutboxMessage['status'],
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    lastError: nullableString(r.last_error),
    sentAt: nullableNumber(r.sent_at),
  }
}

export function toSession(r: Row): Session {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    createdAt: Number(r.created_at),
    lastUsedAt: Number(r.last_used_at),
    idleExpiresAt: Number(r.idle_expires_at),
    absoluteExpiresAt: Number(r.absolute_expires_at),
    revokedAt: nullableNumber(r.revoked_at),
    revokeReason: nullableString(r.revoke_reason),
    userAgent: nullableString(r.user_agent),
    ip: nullableString(r.ip),
    dpopJkt: nullableString(r.dpop_jkt),
    amr: typeof r.amr === 'string' && r.amr !== '' ? r.amr.split(' ') : ['pwd'],
    acr: nullableString(r.acr),
    authTime: r.auth_time === null || r.auth_time === undefined ? Number(r.created_at) : Number(r.auth_time),
    clientId: nullableString(r.client_id),
  }
}

export function toTotpFactor(r: Row): TotpFactor {
  return {
    userId: String(r.user_id),
    secretSealed: String(r.secret_sealed),
    createdAt: Number(r.created_at),
    confirmedAt: nullableNumber(r.confirmed_at),
    lastUsedStep: nullableNumber(r.last_used_step),
  }
}

export function toMfaChallenge(r: Row): MfaChallenge {
  return {
    hash: String(r.hash),
    userId: String(r.user_id),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    clientId: nullableString(r.client_id),
    failures: Number(r.failures),
    consumedAt: nullableNumber(r.consumed_at),
    lockedAt: nullableNumber(r.locked_at),
  }
}

export function toAuditEvent(r: Row): AuditEvent {
  return {
    seq: Number(r.seq),
    type: String(r.type) as AuditEvent['type'],
    at: Number(r.at),
    userId: nullableString(r.user_id),
    actorId: nullableString(r.actor_id),
    sessionId: nullableString(r.session_id),
    ip: nullableString(r.ip),
    userAgent: nullableString(r.user_agent),
    requestId: nullableString(r.request_id),
    // SQLite stores the JSON text; pg parses JSONB itself.
    details: (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as AuditEvent['details'],
  }
}

/** Escapes LIKE wildcards so a user-typed prefix matches literally (with ESCAPE '\\'). */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`)
}
