import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { Session, Store } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'

/** Why a session was revoked; stored on the session and in its `session_revoked` audit event. */
export type RevokeReason = 'user_revoked' | 'user_revoked_all' | 'password_changed' | 'password_reset' | 'account_disabled'

export interface SessionView extends Session {
  /** The session the caller's access token was issued from. */
  current: boolean
}

export interface SessionServiceDeps {
  store: Store
  clock: Clock
  audit: AuditLog
}

export type SessionService = ReturnType<typeof createSessionService>

/** A user's view of their own refresh sessions, and every bulk revocation (password change, disable). */
export function createSessionService({ store, clock, audit }: SessionServiceDeps) {
  /**
   * Revokes every live session of the user (but `exceptSessionId`) and audits each one, so the log
   * answers "when did this device lose access, and why" per session.
   */
  async function revokeAll(
    userId: string,
    reason: RevokeReason,
    ctx: RequestContext,
    options: { exceptSessionId?: string; actorId: string | null },
  ): Promise<string[]> {
    const revoked = await store.revokeUserSessions(userId, reason, clock.now(), options.exceptSessionId)
    for (const sessionId of revoked) {
      await audit.record('session_revoked', ctx, { userId, actorId: options.actorId, sessionId, details: { reason } })
    }
    return revoked
  }

  return {
    revokeAll,

    async list(userId: string, currentSessionId: string): Promise<SessionView[]> {
      const sessions = await store.listActiveSessions(userId, clock.now())
      return sessions.map((s) => ({ ...s, current: s.id === currentSessionId }))
    },

    /** Another user's session answers exactly like an unknown one, so ids cannot be probed. */
    async revoke(userId: string, sessionId: string, ctx: RequestContext): Promise<void> {
      const session = await store.findSession(sessionId)
      if (!session || session.userId !== userId) throw new AppError('not_found', 'no such session')
      // Revoking an already revoked session is a quiet success: the caller's goal is reached.
      if (await store.revokeSession(sessionId, 'user_revoked', clock.now())) {
        await audit.record('session_revoked', ctx, { userId, actorId: userId, sessionId, details: { reason: 'user_revoked' } })
      }
    },
  }
}
