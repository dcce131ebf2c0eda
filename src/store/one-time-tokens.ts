import type { NewOutboxMessage } from './outbox.ts'
import type { NewAuditEvent, NewUser, User } from './store.ts'

/**
 * Single-use secrets (mail links today; MFA challenges and the like can reuse it): random, stored
 * only as a hash, bound to a purpose and an account (and the address a link was mailed to),
 * short-lived, consumed atomically, and invalidated by a newer token of the same purpose or by a
 * password change. src/tokens/one-time-token.ts mints and hashes them.
 */
export const ONE_TIME_TOKEN_PURPOSES = ['verify_email', 'change_email', 'reset_password'] as const
export type OneTimeTokenPurpose = (typeof ONE_TIME_TOKEN_PURPOSES)[number]

export interface NewOneTimeToken {
  hash: string
  purpose: OneTimeTokenPurpose
  userId: string
  /** The address the link was sent to: the account's (verify, reset) or the new one (change). */
  email: string
  createdAt: number
  expiresAt: number
}

export interface OneTimeToken extends NewOneTimeToken {
  consumedAt: number | null
}

export interface IssueOneTimeTokenInput {
  token: NewOneTimeToken
  /** Queued in the same transaction: the mail that carries the token, and any notice. */
  messages: readonly NewOutboxMessage[]
  /** Registration: creates this account in the same transaction; nothing happens when its email is taken. */
  newUser?: NewUser
}

export type IssueOneTimeTokenResult = { issued: true } | { issued: false; reason: 'email_taken' }

export interface IssueForAddressInput {
  /** A normalised address, looked up inside the transaction. */
  email: string
  /** Minted before the lookup, for any address; bound to the account found. */
  token: Omit<NewOneTimeToken, 'userId'>
  messages: readonly NewOutboxMessage[]
  /** The request's audit event, appended in the same transaction whatever the lookup found; `user` is null for an unknown address. */
  audit: (user: User | null) => NewAuditEvent
}

export interface ConsumeOneTimeTokenInput {
  hash: string
  /** The purposes the caller accepts; a token of another purpose is refused and left unconsumed. */
  purposes: readonly OneTimeTokenPurpose[]
  now: number
  /** reset_password: the new password's hash. */
  newPasswordHash?: string
  /** Notices to queue in the same transaction, given the account as it is after the change. */
  notices?: (user: User, token: OneTimeToken) => NewOutboxMessage[]
}

/**
 * consumed: the token's effect is applied, in one transaction with marking it consumed:
 *   verify_email → the account's email is verified (if it is still the address the link went to);
 *   change_email → the account's email becomes the token's, verified;
 *   reset_password → the password hash is replaced and the email verified.
 * A reset or an email change also invalidates every other unconsumed token of the account.
 * unknown / wrong_purpose / used / expired / email_taken / disabled: refused, nothing changed.
 */
export type ConsumeOneTimeTokenResult =
  | { outcome: 'consumed'; token: OneTimeToken; user: User }
  | { outcome: 'unknown' }
  | { outcome: 'wrong_purpose' }
  | { outcome: 'used' }
  | { outcome: 'expired' }
  | { outcome: 'email_taken' }
  | { outcome: 'disabled' }

export interface OneTimeTokenStore {
  /** Stores the token, deletes the account's unconsumed tokens of the same purpose and queues the messages: one transaction. */
  issue(input: IssueOneTimeTokenInput): Promise<IssueOneTimeTokenResult>
  /**
   * Forgot password, as one transaction of the same shape for any address: looks the address up
   * and, when an enabled account has it, issues the token and queues the messages as issue() does;
   * appends the audit event either way. Returns the account it issued for, or null.
   */
  issueForAddress(input: IssueForAddressInput): Promise<User | null>
  consume(input: ConsumeOneTimeTokenInput): Promise<ConsumeOneTimeTokenResult>
  /** A password change: every unconsumed token of the account stops working. Returns how many. */
  invalidateForUser(userId: string): Promise<number>
  /** Marks the account's email verified (CLI, admin) and drops its pending verification tokens; null when there is no such user. */
  markEmailVerified(userId: string): Promise<User | null>
}

/** Why a presented token cannot be consumed, or null when it can: the same rules in every adapter. */
export function oneTimeTokenRefusal(
  token: OneTimeToken | null,
  input: Pick<ConsumeOneTimeTokenInput, 'purposes' | 'now'>,
): Exclude<ConsumeOneTimeTokenResult, { outcome: 'consumed' }> | null {
  if (!token) return { outcome: 'unknown' }
  if (!input.purposes.includes(token.purpose)) return { outcome: 'wrong_purpose' }
  if (token.consumedAt !== null) return { outcome: 'used' }
  if (token.expiresAt <= input.now) return { outcome: 'expired' }
  return null
}
