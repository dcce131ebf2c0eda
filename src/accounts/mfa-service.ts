import type { AccessTokenClaims } from '@latchkey/verifier'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { MfaAttemptCount, TotpFactor } from '../store/factors.ts'
import type { Store, User } from '../store/store.ts'
import { hashOneTimeToken, isOneTimeTokenShaped, mintOneTimeToken } from '../tokens/one-time-token.ts'
import { assuranceOf } from './assurance.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { checkClientId, clientOfChallenge, type DpopBinding, type MfaRequiredResponse, type TokenResponse } from './auth-service.ts'
import type { PasswordHasher } from './passwords.ts'
import { hashRecoveryCode, newRecoveryCodes } from './recovery-codes.ts'
import type { SecretBox } from './secret-box.ts'
import { matchTotpCode, newTotpSecret, totpUri } from './totp.ts'

/** What POST /auth/login answers instead of tokens when the account has a second factor. */
export type MfaRequired = MfaRequiredResponse

/** A second-factor proof: one TOTP code or one recovery code. */
export type FactorProof = { code: string } | { recoveryCode: string }

export interface MfaEvents {
  challenged?: () => void
  succeeded?: (method: 'totp' | 'recovery_code') => void
  failed?: (reason: string) => void
  locked?: () => void
  /** MFA_ACCOUNT_MAX_FAILURES wrong codes in the window: the account's second factor is locked. */
  accountLocked?: () => void
  /** An attempt refused unchecked while the account is locked. */
  accountRefused?: () => void
}

export interface MfaServiceDeps {
  config: Config
  store: Store
  clock: Clock
  audit: AuditLog
  box: SecretBox
  passwords: PasswordHasher
  /** The one way a session begins (AuthService.signIn); `clientId`: the RFC 9068 client the session is for. */
  signIn: (user: User, assurance: ReturnType<typeof assuranceOf>, ctx: RequestContext, binding?: DpopBinding, extras?: { clientId?: string | undefined }) => Promise<TokenResponse>
  events?: MfaEvents
}

export type MfaService = ReturnType<typeof createMfaService>

const METHODS = ['totp', 'recovery_code']
const totpAad = (userId: string) => `totp:${userId}`

/** TOTP enrolment, sign-in with a second factor, step-up and factor removal; routes only parse and reply. */
export function createMfaService(deps: MfaServiceDeps) {
  const { config, store, clock, audit, box } = deps
  const factors = store.factors

  async function confirmedFactor(userId: string): Promise<TotpFactor | null> {
    const factor = await factors.findTotp(userId)
    return factor && factor.confirmedAt !== null ? factor : null
  }

  /** The secret in the clear, sealed again with the current key if a previous one sealed it. */
  async function secretOf(factor: TotpFactor): Promise<string> {
    const { plaintext, stale } = box.open(factor.secretSealed, totpAad(factor.userId))
    if (stale) await factors.resealTotp(factor.userId, box.seal(plaintext, totpAad(factor.userId)))
    return plaintext
  }

  /** Checks a proof against a confirmed factor and spends it: a code's step, or the recovery code. */
  async function spend(factor: TotpFactor, proof: FactorProof): Promise<{ ok: true; method: 'totp' | 'recovery_code' } | { ok: false; reason: string }> {
    const now = clock.now()
    if ('recoveryCode' in proof) {
      const used = await factors.useRecoveryCode(factor.userId, hashRecoveryCode(factor.userId, proof.recoveryCode), now)
      return used ? { ok: true, method: 'recovery_code' } : { ok: false, reason: 'wrong_recovery_code' }
    }
    const step = matchTotpCode(await secretOf(factor), proof.code, now)
    if (step === null) return { ok: false, reason: 'wrong_code' }
    // RFC 6238 §5.2: a code is accepted once; so is any earlier step.
    if (factor.lastUsedStep !== null && step <= factor.lastUsedStep) return { ok: false, reason: 'code_replayed' }
    if (!(await factors.useTotpStep(factor.userId, step))) return { ok: false, reason: 'code_replayed' }
    return { ok: true, method: 'totp' }
  }

  function accountLockedError(attempt: MfaAttemptCount): AppError {
    const retryAfter = Math.max(1, Math.ceil((attempt.windowEndsAt - clock.now()) / 1000))
    return new AppError('mfa_account_locked', `too many wrong codes for this account: try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } })
  }

  /**
   * The per-account limit across challenges (a challenge only limits itself, and each new password
   * sign-in makes a new one). The attempt is counted before its code is checked, so concurrent
   * guesses cannot all slip under the limit; past it, a code is refused unchecked until the window
   * closes. `settle` answers the outcome: a correct code clears the count, a wrong one that reaches
   * the limit locks the account (audited once) and is refused as such.
   */
  async function countAttempt(userId: string, ctx: RequestContext, refusal: { type: 'mfa_failed' | 'step_up_failed'; sessionId?: string }) {
    const { accountMaxFailures, accountFailureWindow } = config.mfa
    const attempt = await factors.countMfaAttempt(userId, clock.now(), accountFailureWindow * 1000)
    if (attempt.failures > accountMaxFailures) {
      await audit.record(refusal.type, ctx, { userId, sessionId: refusal.sessionId ?? null, details: { reason: 'account_locked' } })
      deps.events?.accountRefused?.()
      throw accountLockedError(attempt)
    }
    return {
      failures: attempt.failures,
      async settle(ok: boolean): Promise<void> {
        if (ok) return factors.clearMfaFailures(userId)
        if (attempt.failures < accountMaxFailures) return
        await audit.record('mfa_account_locked', ctx, { userId, details: { failures: attempt.failures, until: new Date(attempt.windowEndsAt).toISOString() } })
        deps.events?.accountLocked?.()
        throw accountLockedError(attempt)
      },
    }
  }

  return {
    /** The methods an account must pass after its password, or null when it has no second factor. */
    async methodsOf(userId: string): Promise<string[] | null> {
      return (await confirmedFactor(userId)) ? METHODS : null
    },

    /** A password sign-in of an account with a factor: a challenge instead of tokens, remembering the sign-in's client. */
    async challenge(user: User, ctx: RequestContext, clientId?: string): Promise<MfaRequired> {
      const token = mintOneTimeToken()
      const now = clock.now()
      await factors.createChallenge({ hash: hashOneTimeToken(token), userId: user.id, createdAt: now, expiresAt: now + config.mfa.challengeTtl * 1000, clientId: clientId ?? null })
      await audit.record('mfa_challenge_issued', ctx, { userId: user.id })
      deps.events?.challenged?.()
      // A passkey of the account completes the challenge too (POST /auth/passkeys/login/verify with mfa_token, issue 22).
      const passkey = (await store.passkeys.listForUser(user.id)).length > 0 ? ['passkey'] : []
      return { mfa_required: true, mfa_token: token, expires_in: config.mfa.challengeTtl, methods: [...METHODS, ...passkey] }
    },

    /**
     * POST /auth/login/mfa: the challenge and one proof; tokens of a two-factor sign-in, for the
     * client (RFC 9068 `client_id`) the password step named and the challenge remembers. A request
     * naming another (or one for a challenge made without) is refused before anything is spent.
     */
    async completeLogin(challengeToken: string, proof: FactorProof, ctx: RequestContext, binding?: DpopBinding, requestedClientId?: string): Promise<TokenResponse> {
      checkClientId(config.clientIds, requestedClientId)
      const hash = isOneTimeTokenShaped(challengeToken) ? hashOneTimeToken(challengeToken) : null
      const challenge = hash === null ? null : await factors.findChallenge(hash)
      const now = clock.now()
      if (!challenge || hash === null) throw new AppError('invalid_mfa_challenge', 'this MFA challenge is not valid: sign in again')
      if (challenge.lockedAt !== null) throw new AppError('mfa_challenge_locked', 'too many wrong codes for this sign-in: sign in again with your password')
      if (challenge.consumedAt !== null) throw new AppError('invalid_mfa_challenge', 'this MFA challenge was already used: sign in again')
      if (challenge.expiresAt <= now) throw new AppError('invalid_mfa_challenge', 'this MFA challenge has expired: sign in again')
      const clientId = clientOfChallenge(challenge.clientId, requestedClientId)
      const user = await store.findUserById(challenge.userId)
      const factor = user && (await confirmedFactor(user.id))
      if (!user || !factor) throw new AppError('invalid_mfa_challenge', 'this account no longer has a second factor: sign in again')

      const attempt = await countAttempt(user.id, ctx, { type: 'mfa_failed' })
      const result = await spend(factor, proof)
      if (!result.ok) {
        const counted = await factors.recordChallengeFailure(hash, now, config.mfa.maxAttempts)
        await audit.record('mfa_failed', ctx, { userId: user.id, details: { reason: result.reason, failures: counted?.failures ?? null, account_failures: attempt.failures } })
        deps.events?.failed?.(result.reason)
        if (counted?.locked) {
          await audit.record('mfa_challenge_locked', ctx, { userId: user.id, details: { failures: counted.failures } })
          deps.events?.locked?.()
        }
        // The account's lock outranks the challenge's: signing in again would not help.
        await attempt.settle(false)
        if (counted?.locked) {
          throw new AppError('mfa_challenge_locked', 'too many wrong codes for this sign-in: sign in again with your password')
        }
        throw new AppError('invalid_mfa_code', result.reason === 'code_replayed' ? 'this code was already used: wait for the next one' : 'the code is incorrect')
      }
      await attempt.settle(true)
      if (!(await factors.consumeChallenge(hash, now))) throw new AppError('invalid_mfa_challenge', 'this MFA challenge is no longer valid: sign in again')
      await audit.record('mfa_succeeded', ctx, { userId: user.id, details: { method: result.method, ...(result.method === 'recovery_code' ? { recovery_codes_left: await factors.countRecoveryCodes(user.id) } : {}) } })
      deps.events?.succeeded?.(result.method)
      return deps.signIn(user, assuranceOf(['pwd', 'otp'], clock, config), ctx, binding, { clientId })
    },

    /** POST /me/mfa/totp: a new secret (replacing any unconfirmed one), its otpauth:// URI and a QR code of it. */
    async beginEnrolment(userId: string, ctx: RequestContext): Promise<{ secret: string; otpauth_uri: string; qr_code: string }> {
      const user = await store.findUserById(userId)
      if (!user) throw new AppError('invalid_token', 'the account no longer exists')
      const secret = newTotpSecret()
      if (!(await factors.beginTotp(userId, box.seal(secret, totpAad(userId)), clock.now()))) {
        throw new AppError('mfa_already_enabled', 'a second factor is already enabled: remove it first (DELETE /me/mfa/totp)')
      }
      await audit.record('mfa_enrolment_started', ctx, { userId })
      const uri = totpUri(secret, config.mfa.totpIssuer, user.email)
      // Loaded at the first enrolment (~18 MB resident): most requests never draw a QR code.
      const { default: QRCode } = await import('qrcode')
      return { secret, otpauth_uri: uri, qr_code: await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 240 }) }
    },

    /** POST /me/mfa/totp/confirm: the first code activates the factor; returns the recovery codes, shown once. */
    async confirmEnrolment(userId: string, code: string, ctx: RequestContext): Promise<{ recovery_codes: string[] }> {
      const factor = await factors.findTotp(userId)
      if (!factor) throw new AppError('mfa_not_enabled', 'no enrolment to confirm: start one with POST /me/mfa/totp')
      if (factor.confirmedAt !== null) throw new AppError('mfa_already_enabled', 'the second factor is already enabled')
      const now = clock.now()
      const step = matchTotpCode(await secretOf(factor), code, now)
      if (step === null) {
        await audit.record('mfa_failed', ctx, { userId, details: { reason: 'wrong_code', during: 'enrolment' } })
        deps.events?.failed?.('wrong_code')
        throw new AppError('invalid_mfa_code', 'the code is incorrect: check the time on the device')
      }
      const codes = newRecoveryCodes()
      if (!(await factors.confirmTotp(userId, step, codes.map((c) => hashRecoveryCode(userId, c)), now))) {
        throw new AppError('mfa_already_enabled', 'the second factor is already enabled')
      }
      await audit.record('mfa_enabled', ctx, { userId, details: { method: 'totp' } })
      return { recovery_codes: codes }
    },

    /** DELETE /me/mfa/totp (the user, after step-up) or an admin reset (`actorId`): factor, codes and challenges go. */
    async removeFactors(userId: string, ctx: RequestContext, actorId?: string): Promise<boolean> {
      const existed = await factors.deleteFactors(userId)
      if (actorId === undefined) {
        if (!existed) throw new AppError('mfa_not_enabled', 'this account has no second factor')
        await audit.record('mfa_disabled', ctx, { userId, actorId: userId })
      } else {
        await audit.record('mfa_reset', ctx, { userId, actorId, details: { had_factor: existed } })
      }
      return existed
    },

    /**
     * POST /auth/step-up: the signed-in user proves themselves again. An account with a factor must
     * give a code (or recovery code), its password optionally; one without, its password. The new
     * session's assurance joins what the session already had with what was proved now, at a fresh
     * auth_time; the old session ends.
     */
    async stepUp(claims: AccessTokenClaims, input: { password?: string; proof?: FactorProof; clientId?: string }, ctx: RequestContext, binding?: DpopBinding): Promise<TokenResponse> {
      checkClientId(config.clientIds, input.clientId)
      const user = await store.findUserById(claims.sub)
      const session = await store.findSession(claims.sid)
      if (!user || !session || session.revokedAt !== null) throw new AppError('session_revoked', 'this session has ended: sign in again')
      // The new session continues the old one's client (RFC 9068 client_id); a request may repeat it, not change it.
      const clientId = session.clientId ?? undefined
      if (input.clientId !== undefined && input.clientId !== clientId) {
        throw new AppError('validation_failed', 'client_id is not the client of this session', { errors: [{ field: 'client_id', message: 'is not the client this session was signed in with' }] })
      }
      const factor = await confirmedFactor(user.id)
      if (factor && !input.proof) throw new AppError('validation_failed', 'this account has a second factor: send code or recovery_code', { errors: [{ field: 'code', message: 'required' }] })
      if (!factor && input.proof) throw new AppError('mfa_not_enabled', 'this account has no second factor: send password')
      if (!factor && input.password === undefined) throw new AppError('validation_failed', 'send password', { errors: [{ field: 'password', message: 'required' }] })
      const proved: string[] = []
      if (input.password !== undefined) {
        if (!(await deps.passwords.verify(user.passwordHash, input.password)).ok) {
          await audit.record('step_up_failed', ctx, { userId: user.id, sessionId: session.id, details: { reason: 'wrong_password' } })
          throw new AppError('invalid_current_password', 'the password is incorrect')
        }
        proved.push('pwd')
      }
      if (factor && input.proof) {
        // Step-up codes share the account's limit: a stolen session must not guess codes where a sign-in may not.
        const attempt = await countAttempt(user.id, ctx, { type: 'step_up_failed', sessionId: session.id })
        const result = await spend(factor, input.proof)
        if (!result.ok) {
          await audit.record('step_up_failed', ctx, { userId: user.id, sessionId: session.id, details: { reason: result.reason, account_failures: attempt.failures } })
          deps.events?.failed?.(result.reason)
          await attempt.settle(false)
          throw new AppError('invalid_mfa_code', result.reason === 'code_replayed' ? 'this code was already used: wait for the next one' : 'the code is incorrect')
        }
        await attempt.settle(true)
        deps.events?.succeeded?.(result.method)
        proved.push('otp')
      }
      const assurance = assuranceOf([...session.amr, ...proved], clock, config)
      const tokens = await deps.signIn(user, assurance, ctx, binding, { clientId })
      await store.revokeSession(session.id, 'stepped_up', clock.now())
      await audit.record('step_up_succeeded', ctx, { userId: user.id, sessionId: session.id, details: { amr: assurance.amr.join(' '), acr: assurance.acr } })
      return tokens
    },
  }
}
