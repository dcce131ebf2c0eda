import type { FactorStore } from './factors.ts'
import type { OneTimeTokenStore } from './one-time-tokens.ts'
import type { OutboxStore } from './outbox.ts'
import type { PasskeyStore } from './passkeys.ts'
import type { RetentionStore } from './retention.ts'
import type { UserTransferStore } from './user-transfer.ts'

/**
 * The one store interface. Adapters (SQLite, PostgreSQL) implement it and pass
 * test/store/conformance.ts. Times are epoch milliseconds; the service layer owns the clock and
 * passes `now` in, so adapters never read the time themselves.
 */

export interface User {
  id: string
  email: string
  passwordHash: string
  /** Space-separated scopes granted to the user's tokens, e.g. "user" or "user admin". */
  scope: string
  createdAt: number
  disabledAt: number | null
  /** Set once the user proved control of `email` (a mail link, a reset, the CLI). */
  emailVerified: boolean
}

export interface NewUser {
  id: string
  email: string
  passwordHash: string
  scope: string
  createdAt: number
  /** Defaults to false. */
  emailVerified?: boolean
}

export interface Session {
  id: string
  userId: string
  createdAt: number
  lastUsedAt: number
  /** When the session ends if unused: lastUsedAt + idle lifetime, capped by absoluteExpiresAt. */
  idleExpiresAt: number
  absoluteExpiresAt: number
  revokedAt: number | null
  revokeReason: string | null
  userAgent: string | null
  ip: string | null
  /** RFC 9449: the thumbprint of the DPoP key every refresh of this session must prove; null when unbound. */
  dpopJkt: string | null
  /** Methods of the sign-in that began the session (RFC 8176); ["pwd"] for sessions older than the column. */
  amr: string[]
  /** Its assurance level name; null for sessions older than the column (the single-factor level). */
  acr: string | null
  /** Epoch ms of that sign-in; the session's createdAt for sessions older than the column. */
  authTime: number
  /** RFC 9068 `client_id`: the known client (CLIENT_IDS) that signed in; null when it did not say. */
  clientId: string | null
}

export interface NewSession {
  id: string
  userId: string
  createdAt: number
  idleExpiresAt: number
  absoluteExpiresAt: number
  userAgent: string | null
  ip: string | null
  /** SHA-256 (base64url) of the session's first refresh token. */
  tokenHash: string
  /** Set when the sign-in came with a DPoP proof: the session is bound to that key for good. */
  dpopJkt?: string | null
  /** The sign-in's assurance (accounts/assurance.ts); defaults: ["pwd"], no acr, createdAt. */
  amr?: string[]
  acr?: string | null
  authTime?: number
  /** The known client that signed in, carried into every access token of the session. */
  clientId?: string | null
  /** A sign-in that upgrades the user's stored hash: written in the session's own transaction. */
  rehash?: PasswordRehash
}

/**
 * Replaces the user's password hash only while it is still `previousHash` (a password changed
 * meanwhile wins), and appends `audit` when it did.
 */
export interface PasswordRehash {
  previousHash: string
  passwordHash: string
  audit?: NewAuditEvent
}

export interface RotateRefreshTokenInput {
  tokenHash: string
  /** The successor, minted by the caller before the call: used only if this call wins the rotation. */
  newTokenHash: string
  /** The successor's plaintext sealed with a key derived from the presented token (see refresh-token.ts). */
  newTokenSealed: string
  now: number
  graceMs: number
  idleMs: number
  /** The thumbprint of the DPoP key the request proved, if any: a bound session refuses any other (or none). */
  dpopJkt?: string | null
  /** The `client_id` the refresh request named, if any: it must be the session's. */
  clientId?: string | undefined
  /**
   * Where the request came from. When given, the outcome's audit event (`refresh` for a rotation,
   * `refresh_reuse_detected` for a reuse) is appended in the rotation's own transaction: one commit
   * instead of two, and no rotation without its event.
   */
  audit?: AuditOrigin
}

/** The request facts every audit event records, whoever writes it. */
export interface AuditOrigin {
  ip: string | null
  userAgent: string | null
  requestId: string | null
}

/**
 * The outcome of one atomic rotation attempt:
 * - rotated: this call won; newTokenHash is now the session's live token.
 * - grace: the token was rotated moments ago (within graceMs) and its child is still the live token;
 *   `sealed` is the child's sealed plaintext so the retry gets the very same token.
 * - reused: an already-rotated token outside the grace window; the store revoked the session.
 * - unknown / revoked / expired / disabled: refused, nothing changed.
 * - key_mismatch: the session is DPoP-bound and the request did not prove its key; nothing changed,
 *   so the client holding the key can still refresh.
 * - client_mismatch: the request named a `client_id` other than the session's; nothing changed.
 */
export type RotateRefreshTokenResult =
  | { outcome: 'rotated'; session: Session; user: User }
  | { outcome: 'grace'; session: Session; user: User; sealed: string }
  | { outcome: 'reused'; session: Session }
  | { outcome: 'unknown' }
  | { outcome: 'revoked'; session: Session }
  | { outcome: 'expired'; session: Session }
  | { outcome: 'disabled'; session: Session }
  | { outcome: 'key_mismatch'; session: Session }
  | { outcome: 'client_mismatch'; session: Session }

/** Every audit event type; the admin API filters on these, so they are a runtime list too. */
export const AUDIT_EVENT_TYPES = [
  'register',
  'login_succeeded',
  'login_failed',
  'refresh',
  'refresh_reuse_detected',
  'logout',
  'session_revoked',
  'password_changed',
  'password_change_failed',
  'account_disabled',
  'account_enabled',
  'key_rotated',
  'csrf_rejected',
  'email_verification_sent',
  'email_verified',
  'email_change_requested',
  'email_changed',
  'password_reset_requested',
  'password_reset',
  'mail_token_refused',
  'refresh_dpop_mismatch',
  'passkey_registered',
  'passkey_renamed',
  'passkey_deleted',
  'passkey_login_failed',
  'passkey_counter_regression',
  // Second factor and step-up (issue 18).
  'mfa_enrolment_started',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_reset',
  'mfa_challenge_issued',
  'mfa_succeeded',
  'mfa_failed',
  'mfa_challenge_locked',
  'mfa_account_locked',
  'step_up_succeeded',
  'step_up_failed',
  'password_rehashed',
  'users_imported',
] as const

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

export interface NewAuditEvent {
  type: AuditEventType
  at: number
  userId: string | null
  actorId: string | null
  sessionId: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  /** Non-secret facts about the event, e.g. {reason:"unknown_email"}. */
  details: Record<string, string | number | boolean | null>
}

export interface AuditEvent extends NewAuditEvent {
  /** Monotonic per store: pages are keyed on it, so concurrent inserts never shift a page. */
  seq: number
}

export interface AuditQuery {
  userId?: string
  type?: AuditEventType
  since?: number
  until?: number
  /** Return events with seq strictly below this (newest first). */
  beforeSeq?: number
  limit: number
}

export interface UserQuery {
  emailPrefix?: string
  /** Return users whose email sorts strictly after this one. */
  afterEmail?: string
  limit: number
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  /** Mail-link tokens and the account changes they confirm (one-time-tokens.ts). */
  readonly oneTimeTokens: OneTimeTokenStore
  /** Mail waiting to be sent (outbox.ts). */
  readonly outbox: OutboxStore
  /** Passkeys and WebAuthn ceremony challenges (passkeys.ts). */
  readonly passkeys: PasskeyStore
  /** Second factors: TOTP, recovery codes, sign-in challenges (factors.ts). */
  readonly factors: FactorStore
  /** Bulk import and export of users (user-transfer.ts). */
  readonly userTransfer: UserTransferStore
  /** Deletes ended sessions, their refresh tokens and expired single-use rows in batches (retention.ts). */
  readonly retention: RetentionStore

  /** Returns null when the email is already registered. */
  createUser(user: NewUser): Promise<User | null>
  findUserByEmail(email: string): Promise<User | null>
  findUserById(id: string): Promise<User | null>
  updatePasswordHash(userId: string, passwordHash: string): Promise<void>
  /**
   * Disables (a time) or enables (null) the account, conditionally and atomically: a time is set only
   * when the account is enabled (an existing disabledAt is kept), null only when it is disabled.
   * `changed` is true for the one call that made the change, so of racing calls exactly one wins
   * (and audits). Null when there is no such user.
   */
  setUserDisabled(userId: string, disabledAt: number | null): Promise<{ user: User; changed: boolean } | null>
  listUsers(query: UserQuery): Promise<User[]>

  createSession(session: NewSession): Promise<Session>
  /** Atomic: N concurrent calls with one token yield exactly one `rotated`. */
  rotateRefreshToken(input: RotateRefreshTokenInput): Promise<RotateRefreshTokenResult>
  /** The session a refresh token (live or rotated) belongs to. */
  findSessionByTokenHash(tokenHash: string): Promise<Session | null>
  findSession(sessionId: string): Promise<Session | null>
  /** Sessions neither revoked nor expired at `now`, newest first. */
  listActiveSessions(userId: string, now: number): Promise<Session[]>
  /** Returns false when the session was already revoked or does not exist. */
  revokeSession(sessionId: string, reason: string, now: number): Promise<boolean>
  /** Revokes every live session of the user except `exceptSessionId`; returns the revoked ids. */
  revokeUserSessions(userId: string, reason: string, now: number, exceptSessionId?: string): Promise<string[]>
  /** Sessions neither revoked nor expired at `now`, across all users (a metrics gauge, read per scrape). */
  countActiveSessions(now: number): Promise<number>
  /** Ids of the user's sessions revoked at or after `since`: what a shared revoked-session set must hold. */
  listSessionIdsRevokedSince(userId: string, since: number): Promise<string[]>

  appendAudit(event: NewAuditEvent): Promise<void>
  listAudit(query: AuditQuery): Promise<AuditEvent[]>

  /** Throws when the store cannot serve requests (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
