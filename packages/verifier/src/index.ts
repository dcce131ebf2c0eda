import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { AccessTokenClaims } from './access-token-claims.ts'
import { authenticatePlugin, type DpopOptions } from './authenticate.ts'
import { systemClock, type Clock } from './clock.ts'
import { createMemoryDpopReplayCache, DPOP_ALGORITHMS, type DpopNonces, type DpopReplayCache } from './dpop-proof.ts'
import { errorHandlerPlugin } from './error-handler.ts'
import { UnknownKeyError, verifyAccessToken, type VerificationPolicy } from './verify-access-token.ts'
import { createJwksKeySource, type JwksKeySource } from './jwks-key-source.ts'

/**
 * `@latchkey/verifier`: Latchkey's own verification for another Fastify service. The same policy
 * (verifyAccessToken), the same plugin (secure by default, `config.public`, `config.scopes`,
 * `config.revocationCheck`) and the same problem+json 401/403s — only the keys come from the JWKS
 * URL instead of the key directory.
 */

export interface VerifierOptions {
  /** Must equal the `iss` Latchkey puts in its tokens (its ISSUER). */
  issuer: string
  /** Must equal Latchkey's AUDIENCE. */
  audience: string
  /** e.g. https://auth.example.com/.well-known/jwks.json */
  jwksUrl: string
  /** Seconds of leeway for exp/nbf/iat (default 30). */
  clockTolerance?: number
  /** The realm of WWW-Authenticate challenges (default "api"). */
  realm?: string
  /** How often the JWKS is fetched again, so retired keys drop out (default 60 s; keep ≤ Latchkey's JWKS_MAX_AGE). */
  refreshIntervalMs?: number
  /** At most one unknown-kid fetch per this many ms (default 30 s). */
  unknownKidCooldownMs?: number
  /** Deadline for one JWKS fetch, body included (default 5 s). */
  fetchTimeoutMs?: number
  /** Largest JWKS response accepted (default 64 KiB). */
  maxJwksBytes?: number
  /** Answers whether a session was revoked, for routes with `config.revocationCheck`. */
  isSessionRevoked?: (sessionId: string) => Promise<boolean>
  /** Assurance levels, weakest first, for routes with `config.stepUp.acr` (default aal1, aal2, aal3: Latchkey's defaults). */
  acrLevels?: readonly string[]
  /** Install the problem+json error handler for the whole app (default true). */
  problemErrors?: boolean
  /** Allow a plain-http JWKS URL on a host other than loopback (default false: anyone on the path could inject keys). */
  allowInsecureJwksUrl?: boolean
  /**
   * Accept DPoP-bound tokens (RFC 9449) with `Authorization: DPoP` and a proof per request. Unset,
   * only Bearer is understood and a DPoP-bound token is refused.
   */
  dpop?: {
    /** Where clients address this service, e.g. https://api.example.com: a proof's htu is this + the path. */
    publicUrl: string
    /** `allowed` (default): bearer and DPoP-bound tokens; `required`: DPoP-bound only. */
    mode?: 'allowed' | 'required'
    /** How old a proof may be, seconds (default 60). */
    maxAge?: number
    /** Proofs seen before (default: in this process; share one across the instances behind publicUrl). */
    replay?: DpopReplayCache
    /** Require server nonces in proofs (RFC 9449 §8), e.g. createMemoryDpopNonces(300, …); unset, none are required. */
    nonces?: DpopNonces
  }
  clock?: Clock
  fetch?: typeof fetch
}

/** Keys fetched over plain HTTP can be swapped by anyone on the network path: only https, or loopback. */
function assertTrustworthyJwksUrl(jwksUrl: string, allowInsecure: boolean): void {
  let url: URL
  try {
    url = new URL(jwksUrl)
  } catch {
    throw new Error(`latchkeyVerifier: jwksUrl ${JSON.stringify(jwksUrl)} is not a URL`)
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.')
  if (url.protocol === 'https:' || (url.protocol === 'http:' && (loopback || allowInsecure))) return
  throw new Error(`latchkeyVerifier: jwksUrl must be https (plain http only on loopback, or with allowInsecureJwksUrl): ${url.origin}`)
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The verifier's JWKS cache: its current keys and a manual refresh (e.g. on SIGHUP). */
    latchkeyKeys: Pick<JwksKeySource, 'keys' | 'refresh'>
  }
}

export const latchkeyVerifier = fp(
  async function latchkeyVerifier(app: FastifyInstance, options: VerifierOptions) {
    assertTrustworthyJwksUrl(options.jwksUrl, options.allowInsecureJwksUrl === true)
    const clock = options.clock ?? systemClock
    const realm = options.realm ?? 'api'
    const policy: VerificationPolicy = { issuer: options.issuer, audience: options.audience, clockTolerance: options.clockTolerance ?? 30 }
    const source = createJwksKeySource({
      jwksUrl: options.jwksUrl,
      clock,
      logger: app.log,
      refreshIntervalMs: options.refreshIntervalMs ?? 60_000,
      unknownKidCooldownMs: options.unknownKidCooldownMs ?? 30_000,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
      maxJwksBytes: options.maxJwksBytes ?? 64 * 1024,
      fetch: options.fetch,
    })
    await source.start()
    app.addHook('onClose', async () => source.close())
    app.decorate('latchkeyKeys', { get keys() { return source.keys }, refresh: source.refresh })

    const now = () => Math.floor(clock.now() / 1000)
    // Synchronous for every token whose key is cached; only an unknown kid waits for the one fetch.
    function verifyToken(token: string): AccessTokenClaims | Promise<AccessTokenClaims> {
      try {
        return verifyAccessToken(token, source.keys, policy, now())
      } catch (err) {
        if (!(err instanceof UnknownKeyError)) throw err
        const refreshing = source.refreshForUnknownKid()
        if (!refreshing) throw err
        return refreshing.then(() => verifyAccessToken(token, source.keys, policy, now()))
      }
    }

    const dpop: DpopOptions | undefined = options.dpop && {
      mode: options.dpop.mode ?? 'allowed',
      publicUrl: options.dpop.publicUrl.replace(/\/+$/, ''),
      maxAge: options.dpop.maxAge ?? 60,
      clockTolerance: policy.clockTolerance,
      replay: options.dpop.replay ?? createMemoryDpopReplayCache(),
      now,
      algs: DPOP_ALGORITHMS,
      ...(options.dpop.nonces ? { nonces: options.dpop.nonces } : {}),
    }
    const challenge = { realm, ...(dpop ? { dpopAlgs: dpop.algs } : {}) }
    if (options.problemErrors !== false && !app.hasPlugin('latchkey-error-handler')) await app.register(errorHandlerPlugin, challenge)
    await app.register(authenticatePlugin, {
      ...challenge,
      verifyToken,
      isSessionRevoked: options.isSessionRevoked,
      now,
      ...(options.acrLevels ? { acrLevels: options.acrLevels } : {}),
      ...(dpop ? { dpop } : {}),
    })
  },
  { name: 'latchkey-verifier', fastify: '5.x' },
)

// The building blocks, for services that verify without Fastify or assemble their own plugin; Latchkey
// itself is built from these same exports.
export {
  algorithmOfJwk,
  assertKeyFitsAlgorithm,
  cryptoParameters,
  importVerificationKey,
  isSigningAlgorithm,
  SIGNING_ALGORITHMS,
  signatureLength,
  verifySignature,
  type SigningAlgorithm,
  type VerificationKey,
} from './algorithms.ts'
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACR_LEVELS,
  hasScopes,
  MAX_ACCESS_TOKEN_LIFETIME,
  meetsAcr,
  type AccessTokenClaims,
  type StepUpPolicy,
} from './access-token-claims.ts'
export { authChallenge, type ChallengeOptions, type PresentedScheme } from './auth-challenge.ts'
export { authenticatePlugin, bearerToken, checkDpopProof, presentedToken, stepUpRefusal, type AuthenticateOptions, type DpopOptions } from './authenticate.ts'
export {
  accessTokenHash,
  atTokenEndpoint,
  createMemoryDpopNonces,
  createMemoryDpopReplayCache,
  DPOP_ALGORITHMS,
  DpopError,
  isDpopProblem,
  jwkThumbprint,
  normalizeHtu,
  verifyDpopProof,
  type DpopErrorCode,
  type DpopNonces,
  type DpopRefusalSite,
  type DpopPolicy,
  type DpopReplayCache,
  type MemoryDpopReplayCache,
  type DpopRequest,
  type VerifiedDpopProof,
} from './dpop-proof.ts'
export { systemClock, type Clock } from './clock.ts'
export { decorateProblemFields, errorHandlerPlugin, sendProblem, toProblemError, type ErrorHandlerOptions } from './error-handler.ts'
export { fetchJwks, importJwks, JwksError, type FetchJwksOptions, type JwksErrorCode } from './fetch-jwks.ts'
export { createJwksKeySource, type JwksKeySource, type JwksKeySourceOptions } from './jwks-key-source.ts'
export {
  PROBLEM_CATALOG,
  PROBLEM_TYPE_BASE,
  ProblemError,
  StepUpError,
  toProblem,
  VerifierError,
  type FieldError,
  type Problem,
  type ProblemCatalogEntry,
  type ProblemCode,
  type ProblemErrorOptions,
} from './problem.ts'
export { assertStrongRsaKey, MIN_RSA_BITS } from './rsa-key.ts'
export { DEFAULT_MAX_TOKEN_LENGTH, UnknownKeyError, verifyAccessToken, type VerificationPolicy } from './verify-access-token.ts'
