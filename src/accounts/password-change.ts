import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { passwordProblem } from './password-policy.ts'
import type { PasswordHasher } from './passwords.ts'
import type { SessionService } from './session-service.ts'

export interface PasswordChangeDeps {
  store: Store
  passwords: PasswordHasher
  audit: AuditLog
  sessions: SessionService
}

export interface PasswordChange {
  userId: string
  /** The caller's session: the one that stays signed in. */
  sessionId: string
  currentPassword: string
  newPassword: string
}

/** PUT /me/password: re-authenticate with the current password, set the new one, sign out every other device. */
export function createPasswordChanger({ store, passwords, audit, sessions }: PasswordChangeDeps) {
  return async function changePassword(change: PasswordChange, ctx: RequestContext): Promise<void> {
    const user = await store.findUserById(change.userId)
    if (!user) throw new AppError('not_found', 'the account no longer exists')

    // The rules first: they cost nothing and say nothing about the current password.
    const problem =
      passwordProblem(change.newPassword, user.email) ??
      (change.newPassword === change.currentPassword ? 'must differ from the current password' : null)
    if (problem) {
      throw new AppError('weak_password', `new_password ${problem}`, { errors: [{ field: 'new_password', message: problem }] })
    }

    const check = await passwords.verify(user.passwordHash, change.currentPassword)
    if (!check.ok) {
      await audit.record('password_change_failed', ctx, { userId: user.id, actorId: user.id, sessionId: change.sessionId, details: { reason: 'wrong_current_password' } })
      throw new AppError('invalid_current_password', 'current_password is incorrect')
    }

    await store.updatePasswordHash(user.id, await passwords.hash(change.newPassword))
    // A reset or email-change link mailed before the change must not outlive it.
    await store.oneTimeTokens.invalidateForUser(user.id)
    const revoked = await sessions.revokeAll(user.id, 'password_changed', ctx, { exceptSessionId: change.sessionId, actorId: user.id })
    await audit.record('password_changed', ctx, {
      userId: user.id,
      actorId: user.id,
      sessionId: change.sessionId,
      details: { revoked_sessions: revoked.length },
    })
  }
}

export type ChangePassword = ReturnType<typeof createPasswordChanger>
