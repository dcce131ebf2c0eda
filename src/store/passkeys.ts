/**
 * Passkeys (WebAuthn credentials, issue 22) and the challenges of their ceremonies. Challenges
 * follow the single-use pattern of one-time-tokens.ts: random, stored only as a hash, bound to a
 * purpose (and to an account when one is known), short-lived and consumed atomically, in the
 * store so that options issued by one instance verify on another.
 */

export const WEBAUTHN_CHALLENGE_PURPOSES = ['register', 'login'] as const
export type WebauthnChallengePurpose = (typeof WEBAUTHN_CHALLENGE_PURPOSES)[number]

export interface NewWebauthnChallenge {
  /** SHA-256 (base64url) of the challenge the client signs. */
  hash: string
  purpose: WebauthnChallengePurpose
  /** The account the ceremony is for: the registrant, or the email-first sign-in's account; null for discoverable sign-in. */
  userId: string | null
  createdAt: number
  expiresAt: number
}

export interface WebauthnChallenge extends NewWebauthnChallenge {
  consumedAt: number | null
}

export interface ConsumeWebauthnChallengeInput {
  hash: string
  purpose: WebauthnChallengePurpose
  now: number
}

/** consumed: this call spent it. Any other outcome changed nothing. */
export type ConsumeWebauthnChallengeResult =
  | { outcome: 'consumed'; challenge: WebauthnChallenge }
  | { outcome: 'unknown' }
  | { outcome: 'wrong_purpose' }
  | { outcome: 'used' }
  | { outcome: 'expired' }

export type PasskeyDeviceType = 'singleDevice' | 'multiDevice'

export interface NewPasskey {
  id: string
  userId: string
  /** The credential id as the authenticator gave it, base64url. */
  credentialId: string
  /** COSE public key, base64url. */
  publicKey: string
  counter: number
  transports: string[]
  backedUp: boolean
  deviceType: PasskeyDeviceType
  /** Authenticator model (AAGUID), all zeros when the authenticator keeps it to itself. */
  aaguid: string
  name: string
  createdAt: number
}

export interface Passkey extends NewPasskey {
  lastUsedAt: number | null
  /** When a sign-in presented a signature counter that did not increase (WebAuthn §6.1.1): a possible clone. */
  counterRegressedAt: number | null
}

export interface RecordPasskeyUseInput {
  id: string
  /** The counter the verified assertion carried. */
  counter: number
  backedUp: boolean
  now: number
}

export interface PasskeyStore {
  /** Returns null when the credential id is already registered (to anyone). */
  create(passkey: NewPasskey): Promise<Passkey | null>
  findByCredentialId(credentialId: string): Promise<Passkey | null>
  /** Oldest first. */
  listForUser(userId: string): Promise<Passkey[]>
  /**
   * Stores the new counter and the time of use, atomically and only if the counter went up (or
   * both it and the stored one are 0, an authenticator without a counter). False: it did not, and
   * nothing changed — a concurrent use of the same assertion cannot both succeed.
   */
  recordUse(input: RecordPasskeyUseInput): Promise<boolean>
  /** Marks the passkey as possibly cloned; keeps the first time it was seen. */
  flagCounterRegression(id: string, now: number): Promise<void>
  /** Null when the user has no passkey with this id. */
  rename(userId: string, id: string, name: string): Promise<Passkey | null>
  /** False when the user has no passkey with this id. */
  remove(userId: string, id: string): Promise<boolean>

  issueChallenge(challenge: NewWebauthnChallenge): Promise<void>
  consumeChallenge(input: ConsumeWebauthnChallengeInput): Promise<ConsumeWebauthnChallengeResult>

  /**
   * The key of email-first sign-in's decoy credentials, the same for every instance sharing the
   * store: `candidate` (random, base64url) is stored if no key exists yet; returns the stored one.
   */
  decoyKey(candidate: string): Promise<string>
}

/** Why a presented challenge cannot be consumed, or null when it can: the same rules in every adapter. */
export function webauthnChallengeRefusal(
  challenge: WebauthnChallenge | null,
  input: Pick<ConsumeWebauthnChallengeInput, 'purpose' | 'now'>,
): Exclude<ConsumeWebauthnChallengeResult, { outcome: 'consumed' }> | null {
  if (!challenge) return { outcome: 'unknown' }
  if (challenge.purpose !== input.purpose) return { outcome: 'wrong_purpose' }
  if (challenge.consumedAt !== null) return { outcome: 'used' }
  if (challenge.expiresAt <= input.now) return { outcome: 'expired' }
  return null
}

/** A counter that must be refused: it did not go up, unless the authenticator keeps none (both 0). */
export function isCounterRegression(stored: number, presented: number): boolean {
  return (stored > 0 || presented > 0) && presented <= stored
}
