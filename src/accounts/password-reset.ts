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

  /**
   * The same work for any address: a token minted and its mail prepared, then one transaction that
   * looks the address up and appends the audit event, and only for an enabled account also stores
   * the token and queues the mail (a few more rows in the same commit). bench/mail.ts measures both.
   */
  async function mailResetLink(rawEmail: string, ctx: RequestContext): Promise<void> {
    const email = normalizeEmail(rawEmail)
    const { token: { userId: _unbound, ...token }, message } = links.prepare('reset_password', '', email, 'reset_password')
    await store.oneTimeTokens.issueForAddress({
      email,
      token,
      messages: [message],
      audit: (user) => ({
        type: 'password_reset_requested',
        at: clock.now(),
        userId: user?.id ?? null,
        actorId: null,
        sessionId: null,
        ...audit.origin(ctx),
        details: { reason: user === null ? 'unknown_email' : user.disabledAt !== null ? 'account_disabled' : null },
      }),
    })
    audit.recorded('password_reset_requested')
    queued()
  }

  return {
    /**
     * POST /auth/password/forgot. The work runs after the answer: the reply is the same 202, at the
     * same moment, whether or not the account exists (and whatever the store does meanwhile).
     */
    forgot(rawEmail: string, ctx: RequestContext): void {
      // setImmediate: on SQLite the store call would otherwise run its transaction before the reply is written.
      const work = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => mailResetLink(rawEmail, ctx))
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
