import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { NewUser, Store, User } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { linkTokenError, presentedTokenHash, type LinkMail } from './link-mail.ts'

export interface EmailVerificationDeps {
  store: Store
  clock: Clock
  audit: AuditLog
  links: LinkMail
  /** Mail was queued: the drainer may send it now rather than at its next poll. */
  queued: () => void
}

export type EmailVerification = ReturnType<typeof createEmailVerification>

/** Verification links: queued with the new account, resent on demand, confirmed by POST /auth/email/verify. */
export function createEmailVerification({ store, clock, audit, links, queued }: EmailVerificationDeps) {
  async function send(user: Pick<User, 'id' | 'email'>, ctx: RequestContext): Promise<void> {
    const { token, message } = links.prepare('verify_email', user.id, user.email, 'verify_email')
    await store.oneTimeTokens.issue({ token, messages: [message] })
    await audit.record('email_verification_sent', ctx, { userId: user.id })
    queued()
  }

  return {
    /** Creates the account and queues its verification mail in one transaction; null when the email is taken. */
    async createUser(user: NewUser): Promise<User | null> {
      const { token, message } = links.prepare('verify_email', user.id, user.email, 'verify_email')
      const result = await store.oneTimeTokens.issue({ token, messages: [message], newUser: user })
      if (!result.issued) return null
      queued()
      return { ...user, disabledAt: null, emailVerified: user.emailVerified ?? false }
    },

    send,

    /** POST /me/email/verify/resend: a new link (the previous one stops working). */
    async resend(userId: string, ctx: RequestContext): Promise<void> {
      const user = await store.findUserById(userId)
      if (!user) throw new AppError('not_found', 'the account no longer exists')
      if (user.emailVerified) throw new AppError('email_already_verified', 'this email address is already verified')
      await send(user, ctx)
    },

    /** POST /auth/email/verify: a verification link, or the confirmation of an email change. */
    async verify(token: string, ctx: RequestContext): Promise<User> {
      const result = await store.oneTimeTokens.consume({ hash: presentedTokenHash(token), purposes: ['verify_email', 'change_email'], now: clock.now() })
      if (result.outcome !== 'consumed') {
        await audit.record('mail_token_refused', ctx, { details: { reason: result.outcome, route: 'email_verify' } })
        throw linkTokenError(result)
      }
      const changed = result.token.purpose === 'change_email'
      await audit.record(changed ? 'email_changed' : 'email_verified', ctx, { userId: result.user.id, actorId: result.user.id })
      return result.user
    },
  }
}
