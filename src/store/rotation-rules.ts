import type { NewAuditEvent, RotateRefreshTokenInput, RotateRefreshTokenResult, Session, User } from './store.ts'

/**
 * The rotation rules both adapters apply inside their transaction; the adapters only do the I/O.
 * First, what refuses a token whatever its state (a missing, revoked, disabled or expired session).
 */
export function refusal(session: Session | null, user: User | null, input: RotateRefreshTokenInput): RotateRefreshTokenResult | null {
  if (!session || !user) return { outcome: 'unknown' }
  if (session.revokedAt !== null) return { outcome: 'revoked', session }
  if (user.disabledAt !== null) return { outcome: 'disabled', session }
  if (input.now >= session.idleExpiresAt || input.now >= session.absoluteExpiresAt) return { outcome: 'expired', session }
  // Before the token's own state: a stolen refresh token of a bound session neither rotates nor counts as reuse.
  if (session.dpopJkt !== null && session.dpopJkt !== (input.dpopJkt ?? null)) return { outcome: 'key_mismatch', session }
  // A refresh token belongs to the client it was issued to (RFC 6749 §6); one that does not say is not checked.
  if (input.clientId !== undefined && input.clientId !== session.clientId) return { outcome: 'client_mismatch', session }
  return null
}

/** The session after a successful rotation: used now, idle expiry pushed out but never past the absolute one. */
export function touched(session: Session, input: RotateRefreshTokenInput): Session {
  return { ...session, lastUsedAt: input.now, idleExpiresAt: Math.min(input.now + input.idleMs, session.absoluteExpiresAt) }
}

/**
 * For an already-rotated token: a retry with the immediate parent inside the grace window (its child
 * not yet rotated itself) gets the same child; anything else is reuse, which revokes the session.
 */
export function retryIsGrace(rotatedAt: number, childRotatedAt: number | null | undefined, sealed: unknown, input: RotateRefreshTokenInput): sealed is string {
  // A zero window means none at all, even for a retry within the same millisecond.
  return input.graceMs > 0 && input.now - rotatedAt <= input.graceMs && childRotatedAt === null && typeof sealed === 'string'
}

/**
 * The audit event a rotation outcome records inside its transaction, if the caller asked for one and
 * it has one. A grace retry changes nothing, so the caller records it once the sealed successor has
 * opened (only then was it a refresh).
 */
export function rotationAuditEvent(result: RotateRefreshTokenResult, input: RotateRefreshTokenInput): NewAuditEvent | null {
  if (!input.audit) return null
  const origin = { at: input.now, actorId: null, ...input.audit }
  switch (result.outcome) {
    case 'rotated':
      return { ...origin, type: 'refresh', userId: result.user.id, sessionId: result.session.id, details: {} }
    case 'reused':
      return { ...origin, type: 'refresh_reuse_detected', userId: result.session.userId, sessionId: result.session.id, details: {} }
    default:
      return null
  }
}
