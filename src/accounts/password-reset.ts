import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { linkTokenError, presentedTokenHash, type LinkMail } from './link-mail.ts'
import { normalizeEmail, passwordProblem } from './password-policy.ts'
import type { PasswordHasher } from './passwords.ts'
import type { SessionService } from './session-service.ts'

export interface PasswordResetDeps {
  store: Store
  clock: Clock
  audit: AuditLog
  links: LinkMail
  passwords: PasswordHasher
  sessions: SessionService
  logger: FastifyBaseLogger
  queued: () => void
}

export type PasswordReset = ReturnType<typeof createPasswordReset>

/** Forgot / reset password: a link mailed to the account's address, then a new password that signs out every session. */
export function createPasswordReset({ store, clock, audit, links, passwords, sessions, logger, queued }: PasswordResetDeps) {
  const pending = new Set<Promise<void>>()

  async function mailResetLink(rawEmail: string, ctx: RequestContext): Promise<void> {
    const user = await store.findUserByEmail(normalizeEmail(rawEmail))
    if (!user || user.disabledAt !== null) return
    const { token, message } = links.prepare('reset_password', user.id, user.email, 'reset_password')
    await store.oneTimeTokens.issue({ token, messages: [message] })
    await audit.record('password_reset_requested', ctx, { userId: user.id })
    queued()
  }

  return {
    /**
     * POST /auth/password/forgot. The work runs after the answer: the reply is the same 202, at the
     * same moment, whether or not the account exists (and whatever the store does meanwhile).
     */
    forgot(rawEmail: string, ctx: RequestContext): void {
      const work = mailResetLink(rawEmail, ctx)
        .catch((err: unknown) => logger.error({ reason: err instanceof Error ? err.message : String(err), requestId: ctx.requestId }, 'password reset: could not queue the mail'))
        .finally(() => pending.delete(work))
      pending.add(work)
    },

    /** Settles once every forgot() accepted so far has queued its mail (or failed): for a graceful close and for tests. */
    async settled(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending])
    },

    /** POST /auth/password/reset: the policy, the new password, the email verified, every session revoked. */
    async reset(token: string, password: string, ctx: RequestContext): Promise<void> {
      const hash = presentedTokenHash(token)
      const problem = passwordProblem(password)
      if (problem) throw new AppError('weak_password', `password ${problem}`, { errors: [{ field: 'password', message: problem }] })
      const result = await store.oneTimeTokens.consume({
        hash,
        purposes: ['reset_password'],
        now: clock.now(),
        newPasswordHash: await passwords.hash(password),
        notices: (user) => [links.notice('password_changed', user.email, { email: user.email })],
      })
      if (result.outcome !== 'consumed') {
        await audit.record('mail_token_refused', ctx, { details: { reason: result.outcome, route: 'password_reset' } })
        throw linkTokenError(result)
      }
      queued()
      const { user } = result
      const revoked = await sessions.revokeAll(user.id, 'password_reset', ctx, { actorId: user.id })
      await audit.record('password_reset', ctx, { userId: user.id, actorId: user.id, details: { revoked_sessions: revoked.length } })
    },
  }
}
