import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import type { KeyRing } from '../keys/key-ring.ts'
import type { NewSession, NewUser, Session, Store, User } from '../store/store.ts'
import { signAccessToken } from '../tokens/sign-access-token.ts'
import {
  hashRefreshToken,
  isRefreshTokenShaped,
  mintRefreshToken,
  openSuccessor,
  sealSuccessor,
} from '../tokens/refresh-token.ts'
import { assuranceOf, type Assurance } from './assurance.ts'
import type { AuditLog, RequestContext } from './audit-log.ts'
import { normalizeEmail, passwordProblem } from './password-policy.ts'
import type { PasswordHasher } from './passwords.ts'

/** RFC 6749 §5.1 token response; `DPoP` (RFC 9449 §5) when the access token is bound to the client's key. */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer' | 'DPoP'
  expires_in: number
  refresh_token: string
  refresh_expires_in: number
  scope: string
}

/** The key a request proved with a valid DPoP proof (RFC 9449): its RFC 7638 thumbprint. */
export interface DpopBinding {
  jkt: string
}

/**
 * A refresh naming another client than the session's: refused like an invalid token, but the session
 * (and its refresh cookie) stay as they were — the token's own client may still be using it.
 */
export class ClientMismatchError extends AppError {
  constructor() {
    super('invalid_refresh_token', 'this refresh token was issued to another client')
  }
}

export interface AuthEvents {
  signed?: (seconds: number) => void
  rotated?: () => void
  reuseDetected?: () => void
  /** A sign-in replaced an imported hash of this algorithm with argon2id. */
  legacyUpgraded?: (algorithm: string) => void
}

/** Email verification as sign-up and sign-in see it (accounts/email-verification.ts). */
export interface SignInVerification {
  /** Creates the account and queues its verification mail in one transaction; null when the email is taken. */
  createUser(user: NewUser): Promise<User | null>
  /** Queues a new verification link. */
  send(user: User, ctx: RequestContext): Promise<void>
  /** REQUIRE_VERIFIED_EMAIL: an unverified account gets no tokens (a new link is mailed instead). */
  required: boolean
}

/** What POST /auth/register answers: tokens, or (REQUIRE_VERIFIED_EMAIL) a note that a link was mailed. */
export type RegisterResult = { tokens: TokenResponse } | { verificationRequired: true }

/** A second factor as the password sign-in sees it (accounts/mfa-service.ts). */
export interface SecondFactorGate {
  /** The methods the account must still pass, or null when it has no second factor. */
  methodsOf(userId: string): Promise<string[] | null>
  /** Starts the second step: a challenge instead of tokens, remembering the client (RFC 9068 `client_id`) the sign-in named. */
  challenge(user: User, ctx: RequestContext, clientId?: string): Promise<MfaRequiredResponse>
}

/** POST /auth/login's answer for an account with a second factor (no tokens). */
export interface MfaRequiredResponse {
  mfa_required: true
  mfa_token: string
  expires_in: number
  methods: string[]
}

export interface AuthServiceDeps {
  secondFactor?: SecondFactorGate
  verification?: SignInVerification
  config: Config
  store: Store
  keys: KeyRing
  clock: Clock
  passwords: PasswordHasher
  audit: AuditLog
  events?: AuthEvents
}

export type AuthService = ReturnType<typeof createAuthService>

/**
 * A `client_id` named by a request: one of CLIENT_IDS, or the request is refused before anything
 * else — before a password is checked, a code or passkey challenge spent.
 */
export function checkClientId(clientIds: readonly string[], clientId: string | undefined): string | undefined {
  if (clientId === undefined || clientIds.includes(clientId)) return clientId
  throw new AppError('validation_failed', 'client_id is not a client this server knows', { errors: [{ field: 'client_id', message: 'is not one of the configured CLIENT_IDS' }] })
}

/**
 * The client (RFC 9068 `client_id`) an MFA challenge completes into: the one its password step
 * named, fixed there. The second step may repeat it, not change it, and may not add one to a
 * challenge made without: a session's client is chosen with the password, never after it.
 * Throws validation_failed before anything is spent.
 */
export function clientOfChallenge(remembered: string | null, requested: string | undefined): string | undefined {
  if (requested !== undefined && requested !== remembered) {
    const message = remembered === null ? 'this sign-in was started without a client_id' : 'is not the client_id this sign-in was started with'
    throw new AppError('validation_failed', 'client_id is not the client of this sign-in: repeat the one sent to /auth/login, or none', { errors: [{ field: 'client_id', message }] })
  }
  return remembered ?? undefined
}

/** Sign-up, sign-in and the refresh-session lifecycle; routes only parse and reply. */
export function createAuthService(deps: AuthServiceDeps) {
  const { config, store, clock, passwords, audit, verification } = deps

  const knownClient = (clientId: string | undefined) => checkClientId(config.clientIds, clientId)

  /** What a session's tokens carry about its sign-in (and its client): recorded at sign-in, copied by every refresh. */
  type SessionAssurance = Pick<Session, 'id' | 'amr' | 'acr' | 'authTime'> & { clientId?: string | null | undefined }

  async function issueAccessToken(user: User, session: SessionAssurance, dpopJkt: string | undefined): Promise<{ token: string; expiresIn: number }> {
    const key = deps.keys.current.signing
    if (!key) throw new Error('no current signing key')
    const started = performance.now()
    const { token } = await signAccessToken(
      {
        issuer: config.issuer,
        audience: config.audience,
        subject: user.id,
        sessionId: session.id,
        scope: user.scope,
        emailVerified: user.emailVerified,
        amr: session.amr,
        acr: session.acr ?? config.assurance.singleFactorAcr,
        authTime: Math.floor(session.authTime / 1000),
        ...(dpopJkt === undefined ? {} : { dpopJkt }),
        ...(session.clientId == null ? {} : { clientId: session.clientId }),
        now: Math.floor(clock.now() / 1000),
        ttl: config.accessTokenTtl,
      },
      key,
    )
    deps.events?.signed?.((performance.now() - started) / 1000)
    return { token, expiresIn: config.accessTokenTtl }
  }

  async function tokenResponse(user: User, session: SessionAssurance & Pick<Session, 'idleExpiresAt' | 'absoluteExpiresAt'>, refreshToken: string, binding: DpopBinding | undefined): Promise<TokenResponse> {
    const access = await issueAccessToken(user, session, binding?.jkt)
    const endsAt = Math.min(session.idleExpiresAt, session.absoluteExpiresAt)
    return {
      access_token: access.token,
      token_type: binding ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      refresh_expires_in: Math.max(0, Math.floor((endsAt - clock.now()) / 1000)),
      scope: user.scope,
    }
  }

  /** A verified password's new argon2id hash, replacing `previousHash` (an imported one when `legacyAlgorithm` is set). */
  interface Upgrade {
    previousHash: string
    passwordHash: string
    legacyAlgorithm: string | undefined
  }

  /** What a sign-in may carry beside its proof: a hash upgrade, and the RFC 9068 client it came from. */
  interface SignInExtras {
    upgrade?: Upgrade | undefined
    clientId?: string | undefined
  }

  async function startSession(user: User, assurance: Assurance, ctx: RequestContext, binding: DpopBinding | undefined, extras: SignInExtras = {}): Promise<{ tokens: TokenResponse; sessionId: string }> {
    const { upgrade, clientId } = extras
    const now = clock.now()
    const id = randomUUID()
    const refreshToken = mintRefreshToken()
    const absoluteExpiresAt = now + config.refreshAbsoluteTtl * 1000
    const session: NewSession = {
      id,
      userId: user.id,
      createdAt: now,
      idleExpiresAt: Math.min(now + config.refreshIdleTtl * 1000, absoluteExpiresAt),
      absoluteExpiresAt,
      userAgent: ctx.userAgent ? ctx.userAgent.slice(0, 512) : null,
      ip: ctx.ip,
      tokenHash: hashRefreshToken(refreshToken),
      // A sign-in with a proof binds the session: every refresh must prove the same key.
      dpopJkt: binding?.jkt ?? null,
      amr: assurance.amr,
      acr: assurance.acr,
      authTime: assurance.authTime,
      // The upgrade commits with the session: no sign-in that upgraded a hash without its session, or the reverse.
      ...(upgrade && {
        rehash: {
          previousHash: upgrade.previousHash,
          passwordHash: upgrade.passwordHash,
          ...(upgrade.legacyAlgorithm !== undefined && {
            audit: { type: 'password_rehashed' as const, at: now, userId: user.id, actorId: user.id, sessionId: id, ...audit.origin(ctx), details: { from: upgrade.legacyAlgorithm } },
          }),
        },
      }),
      // RFC 9068: the session remembers its client, so every refreshed token names it too.
      clientId: clientId ?? null,
    }
    // Signed before the session exists (an RSA signature waits for the thread pool): a request that
    // fails or is abandoned meanwhile leaves no session that no client holds.
    const tokens = await tokenResponse(user, { ...session, amr: assurance.amr, acr: assurance.acr, authTime: assurance.authTime }, refreshToken, binding)
    await store.createSession(session)
    if (upgrade?.legacyAlgorithm !== undefined) {
      audit.recorded('password_rehashed')
      deps.events?.legacyUpgraded?.(upgrade.legacyAlgorithm)
    }
    return { tokens, sessionId: session.id }
  }

  /** Refuses an account that may not sign in now (disabled; unverified where verification is required). */
  async function admit(user: User, ctx: RequestContext): Promise<void> {
    if (user.disabledAt !== null) {
      await audit.record('login_failed', ctx, { userId: user.id, details: { reason: 'account_disabled' } })
      throw new AppError('account_disabled', 'this account is disabled')
    }
    if (verification?.required && !user.emailVerified) {
      // The credentials were right, so this is the owner: mail a fresh link (the only way to get one without tokens).
      await verification.send(user, ctx)
      await audit.record('login_failed', ctx, { userId: user.id, details: { reason: 'email_not_verified' } })
      throw new AppError('email_not_verified', 'confirm your email address first: a new link was mailed to it')
    }
  }

  /**
   * The one way a session begins once a user has proved who they are, whatever the methods: the
   * account is admitted, the session records the sign-in's assurance, and the event is audited.
   */
  async function signIn(user: User, assurance: Assurance, ctx: RequestContext, binding?: DpopBinding, extras: SignInExtras = {}): Promise<TokenResponse> {
    knownClient(extras.clientId)
    await admit(user, ctx)
    const { tokens, sessionId } = await startSession(user, assurance, ctx, binding, extras)
    // The account may have been disabled while the credentials were being checked: its revocation of
    // all sessions ran before this one existed, so look again now that it does.
    if ((await store.findUserById(user.id))?.disabledAt !== null) {
      await store.revokeSession(sessionId, 'account_disabled', clock.now())
      throw new AppError('account_disabled', 'this account is disabled')
    }
    await audit.record('login_succeeded', ctx, { userId: user.id, sessionId, details: { amr: assurance.amr.join(' '), acr: assurance.acr } })
    return tokens
  }

  return {
    signIn,
    admit,

    async register(rawEmail: string, password: string, ctx: RequestContext, binding?: DpopBinding, clientId?: string): Promise<RegisterResult> {
      knownClient(clientId)
      const email = normalizeEmail(rawEmail)
      const problem = passwordProblem(password, email)
      if (problem) throw new AppError('weak_password', `password ${problem}`, { errors: [{ field: 'password', message: problem }] })
      // Hash before the insert so a taken email costs the same time as a new one.
      const passwordHash = await passwords.hash(password)
      const newUser = { id: randomUUID(), email, passwordHash, scope: 'user', createdAt: clock.now() }
      const user = await (verification ? verification.createUser(newUser) : store.createUser(newUser))
      if (!user) throw new AppError('email_taken', 'an account with this email already exists')
      if (verification?.required) {
        await audit.record('register', ctx, { userId: user.id, details: { verification_required: true } })
        return { verificationRequired: true }
      }
      const { tokens, sessionId } = await startSession(user, assuranceOf(['pwd'], clock, config), ctx, binding, { clientId })
      await audit.record('register', ctx, { userId: user.id, sessionId })
      return { tokens }
    },

    async login(rawEmail: string, password: string, ctx: RequestContext, binding?: DpopBinding, clientId?: string): Promise<TokenResponse | MfaRequiredResponse> {
      knownClient(clientId)
      const email = normalizeEmail(rawEmail)
      const user = await store.findUserByEmail(email)
      if (!user) {
        await passwords.verifyDummy(password)
        await audit.record('login_failed', ctx, { details: { reason: 'unknown_email' } })
        throw new AppError('invalid_credentials', 'email or password is incorrect')
      }
      const check = await passwords.verify(user.passwordHash, password)
      if (!check.ok) {
        await audit.record('login_failed', ctx, { userId: user.id, details: { reason: 'wrong_password' } })
        throw new AppError('invalid_credentials', 'email or password is incorrect')
      }
      await admit(user, ctx)
      const upgrade = check.needsRehash
        ? { previousHash: user.passwordHash, passwordHash: await passwords.hash(password), legacyAlgorithm: check.legacyAlgorithm }
        : undefined
      // The password was right; an account with a second factor gets a challenge, not tokens.
      if (deps.secondFactor && (await deps.secondFactor.methodsOf(user.id))) {
        if (upgrade) await store.updatePasswordHash(user.id, upgrade.passwordHash)
        return deps.secondFactor.challenge(user, ctx, clientId)
      }
      return signIn(user, assuranceOf(['pwd'], clock, config), ctx, binding, { upgrade, clientId })
    },

    /**
     * Rotates the refresh token. A proof (`binding`) binds the new access token to its key; a session
     * bound at sign-in refuses a refresh that does not prove that same key, before the token is spent.
     */
    async refresh(refreshToken: string, ctx: RequestContext, binding?: DpopBinding, clientId?: string): Promise<TokenResponse> {
      knownClient(clientId)
      if (!isRefreshTokenShaped(refreshToken)) throw new AppError('invalid_refresh_token', 'refresh token is malformed')
      const successor = mintRefreshToken()
      const result = await store.rotateRefreshToken({
        tokenHash: hashRefreshToken(refreshToken),
        newTokenHash: hashRefreshToken(successor),
        newTokenSealed: sealSuccessor(refreshToken, successor),
        now: clock.now(),
        graceMs: config.refreshGracePeriod * 1000,
        idleMs: config.refreshIdleTtl * 1000,
        dpopJkt: binding?.jkt ?? null,
        clientId,
        // Written by the store in the rotation's transaction: a rotation's or a reuse's event.
        audit: audit.origin(ctx),
      })
      switch (result.outcome) {
        case 'rotated':
          // A session begun before REQUIRE_VERIFIED_EMAIL was switched on ends here for an unverified account.
          if (verification?.required && !result.user.emailVerified) throw new AppError('email_not_verified', 'confirm your email address first')
          deps.events?.rotated?.()
          audit.recorded('refresh')
          return await tokenResponse(result.user, result.session, successor, binding)
        case 'grace': {
          const same = openSuccessor(refreshToken, result.sealed)
          if (!same) throw new AppError('invalid_refresh_token', 'refresh token is not valid')
          await audit.record('refresh', ctx, { userId: result.user.id, sessionId: result.session.id, details: { grace_retry: true } })
          return await tokenResponse(result.user, result.session, same, binding)
        }
        case 'reused':
          deps.events?.reuseDetected?.()
          audit.recorded('refresh_reuse_detected')
          throw new AppError('refresh_token_reused', 'this refresh token was already used; the session has been revoked')
        case 'revoked': {
          // Disabling an account revokes its sessions: while it stays disabled, say so, so the client
          // shows the right message instead of a plain sign-in prompt. The lookup is on this rare path only.
          const owner = result.session.revokeReason === 'account_disabled' ? await store.findUserById(result.session.userId) : null
          if (owner && owner.disabledAt !== null) throw new AppError('account_disabled', 'this account is disabled')
          throw new AppError('session_revoked', 'this session has been revoked')
        }
        case 'disabled':
          throw new AppError('account_disabled', 'this account is disabled')
        case 'expired':
          throw new AppError('invalid_refresh_token', 'the session has expired; sign in again')
        case 'unknown':
          throw new AppError('invalid_refresh_token', 'refresh token is not valid')
        case 'key_mismatch':
          await audit.record('refresh_dpop_mismatch', ctx, { userId: result.session.userId, sessionId: result.session.id, details: { proof: binding ? 'other_key' : 'none' } })
          throw new AppError('invalid_dpop_proof', binding ? "this session is bound to another DPoP key: prove the key it was signed in with" : 'this session is bound to a DPoP key: send a DPoP proof of that key')
        case 'client_mismatch':
          throw new ClientMismatchError()
      }
    },

    /** RFC 7009 style: an unknown token is not an error, so logout never reveals which tokens exist. */
    async logout(refreshToken: string, ctx: RequestContext): Promise<void> {
      if (!isRefreshTokenShaped(refreshToken)) return
      const session = await store.findSessionByTokenHash(hashRefreshToken(refreshToken))
      if (!session) return
      if (await store.revokeSession(session.id, 'logout', clock.now())) {
        await audit.record('logout', ctx, { userId: session.userId, sessionId: session.id })
      }
    },
  }
}
