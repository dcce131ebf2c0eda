import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import type { MailConfig } from '../config.ts'
import { AppError } from '../errors.ts'
import { humanDuration, mailLink } from '../mail/links.ts'
import type { MailTemplateName } from '../mail/templates.ts'
import type { ConsumeOneTimeTokenResult, NewOneTimeToken, OneTimeTokenPurpose } from '../store/one-time-tokens.ts'
import type { NewOutboxMessage } from '../store/outbox.ts'
import { hashOneTimeToken, isOneTimeTokenShaped, mintOneTimeToken } from '../tokens/one-time-token.ts'

export interface LinkMailDeps {
  mail: MailConfig
  clock: Clock
}

export interface PreparedLink {
  token: NewOneTimeToken
  /** The message that carries the link. */
  message: NewOutboxMessage
}

export type LinkMail = ReturnType<typeof createLinkMail>

/**
 * The one way every flow makes a mailed link: a fresh single-use token (only its hash is kept), a
 * link under the configured base, and the outbox message that carries it, expiring with the token.
 */
export function createLinkMail({ mail, clock }: LinkMailDeps) {
  const ttlOf = (purpose: OneTimeTokenPurpose) => (purpose === 'reset_password' ? mail.resetTtl : mail.verifyTtl)

  return {
    prepare(purpose: OneTimeTokenPurpose, userId: string, email: string, template: MailTemplateName, data: Record<string, string> = {}): PreparedLink {
      const now = clock.now()
      const plain = mintOneTimeToken()
      const ttl = ttlOf(purpose)
      const expiresAt = now + ttl * 1000
      return {
        token: { hash: hashOneTimeToken(plain), purpose, userId, email, createdAt: now, expiresAt },
        message: {
          id: randomUUID(),
          template,
          recipient: email,
          data: { ...data, email, link: mailLink(mail.linkBaseUrl, purpose, plain), expires_in: humanDuration(ttl) },
          createdAt: now,
          expiresAt,
        },
      }
    },

    /** A message without a link (a notice); kept for a day at most if it cannot be sent. */
    notice(template: MailTemplateName, recipient: string, data: Record<string, string>): NewOutboxMessage {
      const now = clock.now()
      return { id: randomUUID(), template, recipient, data, createdAt: now, expiresAt: now + 86_400_000 }
    },
  }
}

/** The stored hash of a presented token; a string that cannot be one of ours is refused without a lookup. */
export function presentedTokenHash(token: string): string {
  if (!isOneTimeTokenShaped(token)) throw new AppError('link_token_invalid', 'the link token is not valid')
  return hashOneTimeToken(token)
}

/** One problem code per way a presented link token fails. */
export function linkTokenError(result: Exclude<ConsumeOneTimeTokenResult, { outcome: 'consumed' }>): AppError {
  switch (result.outcome) {
    case 'unknown':
      return new AppError('link_token_invalid', 'the link token is not valid (it may have been replaced by a newer one)')
    case 'expired':
      return new AppError('link_token_expired', 'the link has expired; ask for a new one')
    case 'used':
      return new AppError('link_token_used', 'the link was already used')
    case 'wrong_purpose':
      return new AppError('link_token_wrong_purpose', 'the link token is for another purpose')
    case 'email_taken':
      return new AppError('email_taken', 'an account with this email already exists')
    case 'disabled':
      return new AppError('account_disabled', 'this account is disabled')
  }
}
