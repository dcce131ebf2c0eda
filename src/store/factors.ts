/**
 * Second factors (issue 18): a user's TOTP factor, its recovery codes and the sign-in challenges
 * that wait for a code. Times are epoch ms; TOTP steps are RFC 6238 counters (seconds / 30).
 * Each adapter implements it in sqlite-factors.ts / postgres-factors.ts and passes
 * test/store/factor-conformance.ts.
 */

export interface TotpFactor {
  userId: string
  /** The base32 secret sealed by accounts/secret-box.ts; never stored in the clear. */
  secretSealed: string
  createdAt: number
  /** Null while enrolment waits for its first code. */
  confirmedAt: number | null
  /** The last step a code was accepted for: it and every earlier step are refused (no replay). */
  lastUsedStep: number | null
}

/** A sign-in that passed its password and waits for a second factor: single use, short-lived, bound to the account. */
export interface NewMfaChallenge {
  /** SHA-256 of the opaque challenge token handed to the client. */
  hash: string
  userId: string
  createdAt: number
  expiresAt: number
  /**
   * The known client (RFC 9068 `client_id`) the password step named, or null: the session the
   * challenge completes into is for this client, whatever the second step sends. Absent: null.
   */
  clientId?: string | null
}

export interface MfaChallenge extends NewMfaChallenge {
  clientId: string | null
  failures: number
  consumedAt: number | null
  lockedAt: number | null
}

/** Second-factor attempts of one account in its current window (FactorStore.countMfaAttempt). */
export interface MfaAttemptCount {
  failures: number
  windowEndsAt: number
}

export interface FactorStore {
  /** Starts (or restarts) enrolment with an unconfirmed factor; false when a confirmed factor exists. */
  beginTotp(userId: string, secretSealed: string, now: number): Promise<boolean>
  findTotp(userId: string): Promise<TotpFactor | null>
  /**
   * Confirms the pending factor with the step of its first code and replaces the account's recovery
   * codes with these hashes, in one transaction; false when nothing is pending.
   */
  confirmTotp(userId: string, step: number, recoveryCodeHashes: readonly string[], now: number): Promise<boolean>
  /** Re-seals the secret (after a key rotation) without touching anything else. */
  resealTotp(userId: string, secretSealed: string): Promise<void>
  /** Accepts `step` once: atomically records it when it is later than the last used step; false otherwise. */
  useTotpStep(userId: string, step: number): Promise<boolean>
  /** Spends one unused recovery code; false when the account has no such unused code. */
  useRecoveryCode(userId: string, codeHash: string, now: number): Promise<boolean>
  /** Unused recovery codes left. */
  countRecoveryCodes(userId: string): Promise<number>
  /** Removes the factor, its recovery codes, the account's open challenges and its attempt count; true when a factor existed. */
  deleteFactors(userId: string): Promise<boolean>

  createChallenge(challenge: NewMfaChallenge): Promise<void>
  findChallenge(hash: string): Promise<MfaChallenge | null>
  /** Single use: true for exactly one caller, and only while it is unconsumed, unlocked and unexpired at `now`. */
  consumeChallenge(hash: string, now: number): Promise<boolean>
  /** Counts a wrong code atomically; the challenge locks at `maxFailures`. Null for an unknown challenge. */
  recordChallengeFailure(hash: string, now: number, maxFailures: number): Promise<{ failures: number; locked: boolean } | null>
  /**
   * Counts one second-factor attempt against the account, atomically, before its code is checked:
   * counting first means concurrent guesses cannot all pass a read of the count, so at most the
   * limit's worth of codes is ever checked per window. A window of `windowMs` opens with the first
   * attempt after the previous one closed. Returns the attempts in the current window, this one
   * included, and when the window closes. A correct code then clears the count (clearMfaFailures).
   */
  countMfaAttempt(userId: string, now: number, windowMs: number): Promise<MfaAttemptCount>
  /** A correct code (or a removed factor): the account's count starts again. */
  clearMfaFailures(userId: string): Promise<void>
}
