import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import type { LinkMail } from './link-mail.ts'
import { normalizeEmail } from './password-policy.ts'
import type { PasswordHasher } from './passwords.ts'

export interface EmailChangeDeps {
  store: Store
  audit: AuditLog
  links: LinkMail
  passwords: PasswordHasher
  queued: () => void
}

export type EmailChange = ReturnType<typeof createEmailChange>

/**
 * PUT /me/email: with the current password, mails a confirmation link to the new address and a
 * notice to the old one. The address changes only when the link is used (POST /auth/email/verify).
 * An address another account has gets the same answer and the same notice, but no link, so the
 * route cannot tell which addresses are registered.
 */
export function createEmailChange({ store, audit, links, passwords, queued }: EmailChangeDeps) {
  return async function requestEmailChange(userId: string, currentPassword: string, rawNewEmail: string, ctx: RequestContext): Promise<void> {
    const user = await store.findUserById(userId)
    if (!user) throw new AppError('not_found', 'the account no longer exists')
    const newEmail = normalizeEmail(rawNewEmail)
    if (newEmail === user.email) {
      throw new AppError('validation_failed', 'new_email is already the account\'s address', { errors: [{ field: 'new_email', message: 'is already the account\'s address' }] })
    }
    const check = await passwords.verify(user.passwordHash, currentPassword)
    if (!check.ok) {
      await audit.record('password_change_failed', ctx, { userId: user.id, actorId: user.id, details: { reason: 'wrong_current_password', via: 'email_change' } })
      // Like PUT /me/password: the access token is fine, so a 403 with no challenge, not a 401.
      throw new AppError('invalid_current_password', 'current_password is incorrect')
    }
    const notice = links.notice('email_change_notice', user.email, { email: user.email, new_email: newEmail })
    const taken = (await store.findUserByEmail(newEmail)) !== null
    const { token, message } = links.prepare('change_email', user.id, newEmail, 'confirm_email_change', { old_email: user.email })
    // Same transaction shape either way; only a free address gets the link (its token is issued but never mailed otherwise).
    await store.oneTimeTokens.issue({ token, messages: taken ? [notice] : [message, notice] })
    await audit.record('email_change_requested', ctx, { userId: user.id, actorId: user.id, details: { address_taken: taken } })
    queued()
  }
}

export type RequestEmailChange = ReturnType<typeof createEmailChange>
