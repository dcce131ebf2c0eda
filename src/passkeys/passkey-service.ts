import { randomBytes, randomUUID } from 'node:crypto'
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import type { AuditLog, RequestContext } from '../accounts/audit-log.ts'
import { checkClientId, clientOfChallenge, type DpopBinding, type TokenResponse } from '../accounts/auth-service.ts'
import { normalizeEmail } from '../accounts/password-policy.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import { isCounterRegression, type ConsumeWebauthnChallengeResult, type Passkey, type WebauthnChallenge, type WebauthnChallengePurpose } from '../store/passkeys.ts'
import type { Store, User } from '../store/store.ts'
import { hashOneTimeToken, isOneTimeTokenShaped } from '../tokens/one-time-token.ts'
import {
  checkAssertionRpId,
  checkAttestationRpId,
  checkOrigin,
  readClientData,
  type AuthenticationResponse,
  type RegistrationResponse,
} from './client-response.ts'
import { decoyCredentials } from './decoy-credentials.ts'

/**
 * The WebAuthn library (~30 MB of resident memory with its CBOR, ASN.1 and COSE parts), loaded on
 * the first passkey ceremony: an instance whose users never use passkeys does not carry it.
 */
const webauthn = () => import('@simplewebauthn/server')

/** How long a ceremony's options stay usable: WebAuthn's recommended ceiling for a prompt (§15.1). */
export const CHALLENGE_TTL_MS = 5 * 60_000
/** No account has this id (they are UUIDs v4): what an unknown address's passkey lookup asks for. */
const NO_ACCOUNT = '00000000-0000-0000-0000-000000000000'

/**
 * Starts the session once a passkey proved who the user is; `amr` are the RFC 8176 methods it
 * satisfied (AuthService.signIn turns them into the session's assurance).
 */
export type PasskeySignIn = (user: User, amr: string[], ctx: RequestContext, binding?: DpopBinding, clientId?: string) => Promise<TokenResponse>

export interface PasskeyServiceDeps {
  config: Config
  store: Store
  clock: Clock
  audit: AuditLog
  /** Issues the session and token pair, as a password sign-in does. */
  signIn: PasskeySignIn
  /** Keys the decoy credential ids of email-first sign-in (decoy-credentials.ts); default: the store's shared key. */
  decoyKey?: Uint8Array
  /** Ceremony outcomes, for metrics: `ok` or the problem code. */
  onCeremony?: (ceremony: 'register' | 'login', outcome: string) => void
}

export type PasskeyService = ReturnType<typeof createPasskeyService>

const CHALLENGE_REFUSALS: Record<Exclude<ConsumeWebauthnChallengeResult['outcome'], 'consumed'>, [code: 'passkey_challenge_unknown' | 'passkey_challenge_used' | 'passkey_challenge_expired', detail: string]> = {
  unknown: ['passkey_challenge_unknown', 'this challenge was not issued here; request new options'],
  wrong_purpose: ['passkey_challenge_unknown', 'this challenge was issued for another ceremony; request new options'],
  used: ['passkey_challenge_used', 'this challenge was already used; request new options'],
  expired: ['passkey_challenge_expired', 'this challenge has expired; request new options'],
}

/** Registration and sign-in ceremonies (WebAuthn Level 3) and the management of a user's passkeys. */
export function createPasskeyService(deps: PasskeyServiceDeps) {
  const { config, store, clock, audit } = deps
  const { rpId, rpName, origins } = config.webauthn
  // Read once per process; every instance sharing the store gets the same key, so decoys agree.
  let decoyKey: Promise<Uint8Array> | undefined = deps.decoyKey && Promise.resolve(deps.decoyKey)
  const sharedDecoyKey = () => {
    decoyKey ??= store.passkeys.decoyKey(randomBytes(32).toString('base64url')).then((k) => Buffer.from(k, 'base64url'))
    // A failed read (store outage) is retried on the next request rather than cached.
    decoyKey.catch(() => (decoyKey = undefined))
    return decoyKey
  }

  async function issueChallenge(purpose: WebauthnChallengePurpose, userId: string | null): Promise<string> {
    const challenge = randomBytes(32).toString('base64url')
    const now = clock.now()
    // Deleted by the retention purge a day after expiry (retention-job.ts), not here: until then a
    // late answer is told its challenge expired rather than that it is unknown.
    await store.passkeys.issueChallenge({ hash: hashOneTimeToken(challenge), purpose, userId, createdAt: now, expiresAt: now + CHALLENGE_TTL_MS })
    return challenge
  }

  async function spendChallenge(challenge: string, purpose: WebauthnChallengePurpose): Promise<WebauthnChallenge> {
    const result = await store.passkeys.consumeChallenge({ hash: hashOneTimeToken(challenge), purpose, now: clock.now() })
    if (result.outcome === 'consumed') return result.challenge
    const [code, detail] = CHALLENGE_REFUSALS[result.outcome]
    throw new AppError(code, detail)
  }

  /**
   * The account a password sign-in's MFA challenge (`mfa_token`) waits on, refused exactly as
   * POST /auth/login/mfa refuses it; nothing is spent here.
   */
  async function openMfaChallenge(token: string): Promise<{ hash: string; userId: string; clientId: string | null }> {
    const hash = isOneTimeTokenShaped(token) ? hashOneTimeToken(token) : null
    const challenge = hash === null ? null : await store.factors.findChallenge(hash)
    if (!challenge || hash === null) throw new AppError('invalid_mfa_challenge', 'this MFA challenge is not valid: sign in again')
    if (challenge.lockedAt !== null) throw new AppError('mfa_challenge_locked', 'too many failed attempts for this sign-in: sign in again with your password')
    if (challenge.consumedAt !== null) throw new AppError('invalid_mfa_challenge', 'this MFA challenge was already used: sign in again')
    if (challenge.expiresAt <= clock.now()) throw new AppError('invalid_mfa_challenge', 'this MFA challenge has expired: sign in again')
    return { hash, userId: challenge.userId, clientId: challenge.clientId }
  }

  /** Counts the ceremony's outcome, whatever it was. */
  async function counted<T>(ceremony: 'register' | 'login', run: () => Promise<T>): Promise<T> {
    try {
      const result = await run()
      deps.onCeremony?.(ceremony, 'ok')
      return result
    } catch (err) {
      deps.onCeremony?.(ceremony, err instanceof AppError ? err.code : 'error')
      throw err
    }
  }

  return {
    async registrationOptions(user: User): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await store.passkeys.listForUser(user.id)
      const challenge = await issueChallenge('register', user.id)
      const { generateRegistrationOptions } = await webauthn()
      return generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: user.email,
        userID: Buffer.from(user.id, 'utf8'),
        challenge: Buffer.from(challenge, 'base64url'),
        timeout: CHALLENGE_TTL_MS,
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      })
    },

    async register(userId: string, response: RegistrationResponse, name: string | undefined, ctx: RequestContext): Promise<Passkey> {
      return counted('register', async () => {
        const clientData = readClientData(response.response.clientDataJSON, 'webauthn.create')
        const challenge = await spendChallenge(clientData.challenge, 'register')
        if (challenge.userId !== userId) throw new AppError('passkey_challenge_unknown', 'this challenge was issued to another account')
        checkOrigin(clientData.origin, origins)
        await checkAttestationRpId(response.response.attestationObject, rpId)
        const { verifyRegistrationResponse } = await webauthn()
        let info
        try {
          const verified = await verifyRegistrationResponse({
            response: response as Parameters<typeof verifyRegistrationResponse>[0]['response'],
            expectedChallenge: clientData.challenge,
            expectedOrigin: origins,
            expectedRPID: rpId,
            requireUserVerification: false,
          })
          if (!verified.verified) throw new Error('not verified')
          info = verified.registrationInfo
        } catch (cause) {
          throw new AppError('passkey_verification_failed', 'the attestation could not be verified', { cause })
        }
        const now = clock.now()
        const passkey = await store.passkeys.create({
          id: randomUUID(),
          userId,
          credentialId: info.credential.id,
          publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
          counter: info.credential.counter,
          transports: (response.response.transports ?? []).slice(0, 8),
          backedUp: info.credentialBackedUp,
          deviceType: info.credentialDeviceType,
          aaguid: info.aaguid,
          name: name ?? defaultName(response, now),
          createdAt: now,
        })
        if (!passkey) throw new AppError('passkey_already_registered', 'this passkey is already registered')
        await audit.record('passkey_registered', ctx, { userId, actorId: userId, details: { passkey_id: passkey.id, device_type: passkey.deviceType, backed_up: passkey.backedUp } })
        return passkey
      })
    },

    /** Options for a sign-in: discoverable (no email), or email-first with that account's credentials (decoys for any other address). */
    async authenticationOptions(rawEmail: string | undefined, mfaToken?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      let userId: string | null = null
      let allowCredentials: Array<{ id: string; transports: string[] }> = []
      if (mfaToken !== undefined) {
        // The second step of a password sign-in: the password already named the account.
        userId = (await openMfaChallenge(mfaToken)).userId
        allowCredentials = (await store.passkeys.listForUser(userId)).map((p) => ({ id: p.credentialId, transports: p.transports }))
      } else if (rawEmail !== undefined) {
        const email = normalizeEmail(rawEmail)
        const user = await store.findUserByEmail(email)
        // The same two lookups for any address, so the answer's timing does not tell either.
        const passkeys = await store.passkeys.listForUser(user?.id ?? NO_ACCOUNT)
        if (user && passkeys.length > 0) {
          userId = user.id
          allowCredentials = passkeys.map((p) => ({ id: p.credentialId, transports: p.transports }))
        } else {
          allowCredentials = decoyCredentials(await sharedDecoyKey(), email)
        }
      }
      const challenge = await issueChallenge('login', userId)
      const { generateAuthenticationOptions } = await webauthn()
      return generateAuthenticationOptions({
        rpID: rpId,
        challenge: Buffer.from(challenge, 'base64url'),
        timeout: CHALLENGE_TTL_MS,
        userVerification: 'preferred',
        allowCredentials,
      })
    },

    /**
     * Verifies an assertion and signs its owner in, for the client (RFC 9068 `client_id`) the request
     * names — checked first, so an unknown one spends no challenge.
     */
    async authenticate(response: AuthenticationResponse, ctx: RequestContext, binding?: DpopBinding, clientId?: string): Promise<TokenResponse> {
      checkClientId(config.clientIds, clientId)
      return counted('login', async () => {
        const { user, userVerified, passkey } = await verifyAssertion(response, ctx)
        return deps.signIn(user, passkeyAmr(passkey, userVerified), ctx, binding, clientId)
      })
    },

    /**
     * A passkey as the second factor of a password sign-in: the assertion must come from a passkey
     * of the account the challenge names; a failure counts toward the challenge's lock like a wrong
     * code. Success spends the challenge and signs in with the password's and the passkey's methods,
     * for the client the password step named (a request may repeat it, not change or add it).
     */
    async completeMfa(mfaToken: string, response: AuthenticationResponse, ctx: RequestContext, binding?: DpopBinding, requestedClientId?: string): Promise<TokenResponse> {
      checkClientId(config.clientIds, requestedClientId)
      return counted('login', async () => {
        const { hash, userId, clientId: remembered } = await openMfaChallenge(mfaToken)
        const clientId = clientOfChallenge(remembered, requestedClientId)
        let verified
        try {
          verified = await verifyAssertion(response, ctx, userId)
        } catch (err) {
          if (err instanceof AppError && (err.code === 'passkey_unknown_credential' || err.code === 'passkey_verification_failed' || err.code === 'passkey_counter_regression')) {
            const counted = await store.factors.recordChallengeFailure(hash, clock.now(), config.mfa.maxAttempts)
            await audit.record('mfa_failed', ctx, { userId, details: { reason: err.code, failures: counted?.failures ?? null } })
            if (counted?.locked) {
              await audit.record('mfa_challenge_locked', ctx, { userId, details: { failures: counted.failures } })
              throw new AppError('mfa_challenge_locked', 'too many failed attempts for this sign-in: sign in again with your password')
            }
          }
          throw err
        }
        if (!(await store.factors.consumeChallenge(hash, clock.now()))) throw new AppError('invalid_mfa_challenge', 'this MFA challenge is no longer valid: sign in again')
        await audit.record('mfa_succeeded', ctx, { userId, details: { method: 'passkey' } })
        return deps.signIn(verified.user, ['pwd', ...passkeyAmr(verified.passkey, verified.userVerified)], ctx, binding, clientId)
      })
    },

    async list(userId: string): Promise<Passkey[]> {
      return store.passkeys.listForUser(userId)
    },

    async rename(userId: string, id: string, name: string, ctx: RequestContext): Promise<Passkey> {
      const passkey = await store.passkeys.rename(userId, id, name)
      if (!passkey) throw new AppError('not_found', 'no such passkey')
      await audit.record('passkey_renamed', ctx, { userId, actorId: userId, details: { passkey_id: id } })
      return passkey
    },

    async remove(userId: string, id: string, ctx: RequestContext): Promise<void> {
      if (!(await store.passkeys.remove(userId, id))) throw new AppError('not_found', 'no such passkey')
      await audit.record('passkey_deleted', ctx, { userId, actorId: userId, details: { passkey_id: id } })
    },
  }

  async function refuse(ctx: RequestContext, reason: string, userId: string | null, code: 'passkey_unknown_credential' | 'passkey_verification_failed', detail: string, cause?: unknown): Promise<never> {
    await audit.record('passkey_login_failed', ctx, { userId, details: { reason } })
    throw new AppError(code, detail, cause === undefined ? {} : { cause })
  }

  /** `expectedUserId`: the account whose passkey this must be (a second factor), beside the challenge's own binding. */
  async function verifyAssertion(response: AuthenticationResponse, ctx: RequestContext, expectedUserId?: string): Promise<{ user: User; passkey: Passkey; userVerified: boolean }> {
    const clientData = readClientData(response.response.clientDataJSON, 'webauthn.get')
    const challenge = await spendChallenge(clientData.challenge, 'login')
    checkOrigin(clientData.origin, origins)
    await checkAssertionRpId(response.response.authenticatorData, rpId)
    const passkey = await store.passkeys.findByCredentialId(response.id)
    const handle = response.response.userHandle === undefined ? undefined : Buffer.from(response.response.userHandle, 'base64url').toString('utf8')
    const wrongAccount = (challenge.userId !== null && challenge.userId !== passkey?.userId) || (expectedUserId !== undefined && expectedUserId !== passkey?.userId)
    if (!passkey || wrongAccount || (handle !== undefined && handle !== passkey.userId)) {
      return refuse(ctx, 'unknown_credential', null, 'passkey_unknown_credential', 'no passkey with this credential id is registered here')
    }
    const { verifyAuthenticationResponse } = await webauthn()
    let verified
    try {
      // The stored counter is checked below, after the signature, so that only its holder can trip the clone alarm.
      verified = await verifyAuthenticationResponse({
        response: response as Parameters<typeof verifyAuthenticationResponse>[0]['response'],
        expectedChallenge: clientData.challenge,
        expectedOrigin: origins,
        expectedRPID: rpId,
        credential: { id: passkey.credentialId, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0, transports: passkey.transports },
        requireUserVerification: false,
      })
    } catch (cause) {
      return refuse(ctx, 'bad_signature', passkey.userId, 'passkey_verification_failed', 'the assertion could not be verified', cause)
    }
    if (!verified.verified) return refuse(ctx, 'bad_signature', passkey.userId, 'passkey_verification_failed', 'the assertion could not be verified')
    const info = verified.authenticationInfo
    const now = clock.now()
    if (isCounterRegression(passkey.counter, info.newCounter) || !(await store.passkeys.recordUse({ id: passkey.id, counter: info.newCounter, backedUp: info.credentialBackedUp, now }))) {
      // WebAuthn §6.1.1: a counter that does not go up may mean a cloned authenticator.
      await store.passkeys.flagCounterRegression(passkey.id, now)
      await audit.record('passkey_counter_regression', ctx, { userId: passkey.userId, details: { passkey_id: passkey.id, stored: passkey.counter, presented: info.newCounter } })
      throw new AppError('passkey_counter_regression', "this passkey's signature counter went backwards; it may have been cloned")
    }
    // A disabled (or, where required, unverified) account is refused by signIn, as for a password.
    const user = await store.findUserById(passkey.userId)
    if (!user) return refuse(ctx, 'unknown_credential', null, 'passkey_unknown_credential', 'no passkey with this credential id is registered here')
    return { user, passkey, userVerified: info.userVerified }
  }
}

/**
 * RFC 8176 methods of a passkey sign-in: `hwk` for a key that cannot leave its authenticator, `swk`
 * for a synced one; with user verification also `user` and `mfa` — the authenticator checked a PIN
 * or a biometric on top of possession, so the sign-in is multi-factor on its own (assurance.ts).
 */
export function passkeyAmr(passkey: Pick<Passkey, 'deviceType'>, userVerified: boolean): string[] {
  const key = passkey.deviceType === 'multiDevice' ? 'swk' : 'hwk'
  return userVerified ? [key, 'user', 'mfa'] : [key]
}

function defaultName(response: RegistrationResponse, now: number): string {
  const kind = response.authenticatorAttachment === 'cross-platform' ? 'Security key' : 'Passkey'
  return `${kind} added ${new Date(now).toISOString().slice(0, 10)}`
}
