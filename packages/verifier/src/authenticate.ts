import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { hasScopes, meetsAcr, type AccessTokenClaims, type StepUpPolicy } from './access-token-claims.ts'
import { authChallenge, type ChallengeOptions } from './auth-challenge.ts'
import { DpopError, verifyDpopProof, type DpopNonces, type DpopReplayCache, type VerifiedDpopProof } from './dpop-proof.ts'
import { decorateProblemFields, sendProblem, toProblemError } from './error-handler.ts'
import { StepUpError, VerifierError } from './problem.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no access token. Every other route does (secure by default). */
    public?: boolean
    /** Scopes the access token must carry (403 insufficient_scope otherwise). */
    scopes?: readonly string[]
    /** Also refuse tokens of revoked sessions (one store or Redis lookup per request). */
    revocationCheck?: boolean
    /**
     * RFC 9470 step-up: the sign-in behind the token must reach this `acr` and/or be at most `maxAge`
     * seconds old (`auth_time`); otherwise 401 insufficient_user_authentication.
     */
    stepUp?: StepUpPolicy
  }
  interface FastifyRequest {
    /** The verified access-token claims; null on public routes. */
    auth: AccessTokenClaims | null
  }
}

/** DPoP at a protected route (RFC 9449 §7): how proofs are checked, and whether bearer tokens still pass. */
export interface DpopOptions {
  /** `allowed`: bearer and DPoP-bound tokens; `required`: DPoP-bound tokens only. */
  mode: 'allowed' | 'required'
  /** Where clients address this service (e.g. https://api.example.com): a proof's `htu` is this + the path. */
  publicUrl: string
  /** How old a proof may be (its `iat`), seconds. */
  maxAge: number
  /** Seconds of leeway for the proof's `iat`. */
  clockTolerance: number
  /** Proofs seen before; shared by every instance behind one `publicUrl`, or replays get through on the others. */
  replay: DpopReplayCache
  /** Seconds since the epoch. */
  now: () => number
  /** Proof algorithms announced in the DPoP challenge. */
  algs: readonly string[]
  /** Server nonces every proof must carry (RFC 9449 §8); unset, proofs need none. */
  nonces?: DpopNonces
}

/**
 * The one check of a request's DPoP proof, at sign-in, refresh and protected routes alike: the proof
 * itself (RFC 9449 §4.3), the server's nonce when one is required — a missing or stale one is
 * `use_dpop_nonce` with the current nonce in `DPoP-Nonce` — and single use of its `jti`. Synchronous
 * unless a shared nonce source or replay cache answers with a promise.
 */
export function checkDpopProof(dpop: DpopOptions, request: FastifyRequest, accessToken?: string): VerifiedDpopProof | Promise<VerifiedDpopProof> {
  const header = request.headers.dpop
  if (typeof header !== 'string' || header === '') throw new DpopError('invalid_dpop_proof', 'send one DPoP proof in the DPoP header')
  const path = request.url.split('?')[0] ?? '/'
  const now = dpop.now()
  const target = { method: request.method, url: `${dpop.publicUrl}${path}`, ...(accessToken === undefined ? {} : { accessToken }) }
  const proof = verifyDpopProof(header, target, { now, maxAge: dpop.maxAge, clockTolerance: dpop.clockTolerance })
  const nonces = dpop.nonces
  if (!nonces) return unused(dpop, proof, now)
  const accepted = proof.nonce === undefined ? false : nonces.accepts(proof.nonce, now)
  if (accepted === true) return unused(dpop, proof, now)
  if (accepted === false) return refuseNonce(nonces, proof, now)
  return accepted.then((ok) => (ok ? unused(dpop, proof, now) : refuseNonce(nonces, proof, now)))
}

function unused(dpop: DpopOptions, proof: VerifiedDpopProof, now: number): VerifiedDpopProof | Promise<VerifiedDpopProof> {
  const first = dpop.replay.firstUse(proof.jkt, proof.jti, proof.iat + dpop.maxAge + 2 * dpop.clockTolerance, now)
  if (first === true) return proof
  if (first === false) throw replayed()
  return first.then((ok) => {
    if (!ok) throw replayed()
    return proof
  })
}

async function refuseNonce(nonces: DpopNonces, proof: VerifiedDpopProof, now: number): Promise<never> {
  const current = await nonces.current(now)
  const detail = proof.nonce === undefined ? 'this server requires a nonce in DPoP proofs: use the one in the DPoP-Nonce header' : 'the proof nonce is not current: use the one in the DPoP-Nonce header'
  throw new DpopError('use_dpop_nonce', detail, { 'DPoP-Nonce': current })
}

export interface AuthenticateOptions extends ChallengeOptions {
  /**
   * The one verification policy, bound to its keys and clock; throws (or rejects with) a ProblemError on
   * any failure. It answers synchronously whenever it can; a promise is only for the rare token whose
   * key must be fetched first (the resource-server verifier meeting an unknown `kid`).
   */
  verifyToken: (token: string) => AccessTokenClaims | Promise<AccessTokenClaims>
  /** Answers whether a session was revoked; required when any route asks for revocationCheck. */
  isSessionRevoked?: (sessionId: string) => Promise<boolean>
  /** Accept `Authorization: DPoP` with proofs; unset, only Bearer is understood. */
  dpop?: DpopOptions
  /** Assurance levels, weakest first, for routes with `config.stepUp.acr` (default aal1, aal2, aal3). */
  acrLevels?: readonly string[]
  /** Seconds since the epoch, for `config.stepUp.maxAge` (default: the system clock). */
  now?: () => number
}

/**
 * The step-up check (RFC 9470) of a verified token against a route's policy; null when it passes.
 * A token without `acr` or `auth_time` cannot prove what the route asks, so it is refused.
 */
export function stepUpRefusal(claims: AccessTokenClaims, policy: StepUpPolicy, now: number, acrLevels?: readonly string[]): StepUpError | null {
  if (policy.acr !== undefined && !meetsAcr(claims.acr, policy.acr, acrLevels)) {
    return new StepUpError(`this action requires a sign-in at level ${policy.acr}: authenticate again with a second factor`, policy)
  }
  if (policy.maxAge !== undefined && (claims.auth_time === undefined || now - claims.auth_time > policy.maxAge)) {
    return new StepUpError(`this action requires a sign-in within the last ${policy.maxAge} seconds: authenticate again`, policy)
  }
  return null
}


const CREDENTIAL = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i

/** The credential of the Authorization header; throws the RFC 6750 error for a missing or malformed one. */
export function presentedToken(request: FastifyRequest, dpop: boolean): { scheme: 'bearer' | 'dpop'; token: string } {
  const header = request.headers.authorization
  const expected = dpop ? 'Bearer or DPoP' : 'Bearer'
  if (header === undefined || header === '') throw new VerifierError('missing_token', `send an access token as Authorization: ${dpop ? 'Bearer (or DPoP)' : 'Bearer'} <token>`)
  const scheme = /^bearer(\s|$)/i.test(header) ? 'bearer' : dpop && /^dpop(\s|$)/i.test(header) ? 'dpop' : null
  if (scheme === null) throw new VerifierError('missing_token', `the Authorization scheme must be ${expected}`)
  request.authScheme = scheme
  const match = CREDENTIAL.exec(header)
  if (!match) throw new VerifierError('invalid_token', `the ${scheme === 'bearer' ? 'bearer' : 'DPoP'} token is malformed`)
  return { scheme, token: match[2] as string }
}

/** Reads the bearer token; throws the RFC 6750 error for a missing or malformed header. */
export function bearerToken(request: FastifyRequest): string {
  return presentedToken(request, false).token
}

/**
 * The token of a header in the form clients send (`Bearer ` and the token, nothing else), without
 * scanning its ~800 characters with a regular expression; undefined for any other form, which
 * presentedToken parses strictly. Safe to hand to the verifier unchecked: whenever presentedToken
 * accepts such a header it returns this same string, and the verifier (and its cache, which holds
 * only tokens it accepted) accepts nothing that presentedToken would refuse.
 */
function plainBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || !header.startsWith('Bearer ')) return undefined
  // Extra spaces around the token are allowed (RFC 6750's grammar); presentedToken strips them.
  if (header.charCodeAt(7) === 32 || header.charCodeAt(header.length - 1) === 32) return undefined
  return header.slice(7)
}

/**
 * Two Authorization headers (Node keeps only the first), or a token in the query as well: which one
 * counts would be a guess, so the request is refused (RFC 6750 §2: one method per request).
 */
function refuseAmbiguousCredentials(request: FastifyRequest): void {
  const raw = request.raw.rawHeaders
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++seen > 1) throw new VerifierError('invalid_request', 'send one Authorization header')
  }
  if (request.url.includes('access_token=')) throw new VerifierError('invalid_request', 'send the access token in the Authorization header only, not in the query')
}

/**
 * The verification plugin: one root onRequest hook that runs for every route, whenever and wherever
 * it was registered (before this plugin too, as a service using the verifier might do), so a route
 * added without thinking is protected (secure by default). It reads the route's config as the
 * request arrives, so a route marked public by a later onRoute hook is seen as such. Registered
 * after the security headers and CORS and before any route's own hooks, nothing of a route runs on
 * an unverified request. Verification is synchronous for every token whose key is at hand; only an
 * unknown-key fetch (resource servers), a DPoP replay check against a shared cache, and routes that
 * opt into the revocation check pay for an asynchronous step.
 */
export const authenticatePlugin = fp(
  async function authenticate(app: FastifyInstance, options: AuthenticateOptions) {
    app.decorateRequest('auth', null)
    decorateProblemFields(app)
    const dpop = options.dpop
    const now = options.now ?? (() => Math.floor(Date.now() / 1000))
    const challenge: ChallengeOptions = { realm: options.realm, ...(options.dpopAlgs ? { dpopAlgs: options.dpopAlgs } : {}) }

    function refuse(request: FastifyRequest, reply: FastifyReply, err: unknown, scopes: readonly string[] = []): void {
      const appError = toProblemError(err)
      if ((appError.status === 401 || appError.status === 403) && appError.challenge) {
        reply.header('www-authenticate', authChallenge(challenge, appError, request.authScheme, scopes))
      }
      request.log.info({ code: appError.code }, 'authentication refused')
      sendProblem(request, reply, appError, challenge)
    }

    function admit(request: FastifyRequest, reply: FastifyReply, claims: AccessTokenClaims, config: FastifyContextConfig, done: HookHandlerDoneFunction): void {
      const scopes = config.scopes ?? NO_SCOPES
      if (!hasScopes(claims.scope, scopes)) {
        return refuse(request, reply, new VerifierError('insufficient_scope', `this route requires scope: ${scopes.join(' ')}`), scopes)
      }
      if (config.stepUp) {
        const refused = stepUpRefusal(claims, config.stepUp, now(), options.acrLevels)
        if (refused) return refuse(request, reply, refused)
      }
      request.auth = claims
      // Here, in onRequest, so before a route's own hooks — its rate limit among them: a flood of
      // requests with a valid token costs one revoked-set point read each before the limit refuses
      // them. Accepted: the read is cheaper than the verification that already ran.
      if (config.revocationCheck) return checkRevocation(request, reply, claims, done)
      done()
    }

    function checkRevocation(request: FastifyRequest, reply: FastifyReply, claims: AccessTokenClaims, done: HookHandlerDoneFunction): void {
      const isRevoked = options.isSessionRevoked
      if (!isRevoked) return done(new Error('revocationCheck requested but no revoked-session set is configured'))
      isRevoked(claims.sid).then(
        (revoked) => (revoked ? refuse(request, reply, new VerifierError('session_revoked', 'this session has been revoked')) : done()),
        (err: unknown) => done(err as Error),
      )
    }

    /**
     * The key binding (RFC 9449 §7): a DPoP-bound token only with the DPoP scheme and a fresh proof of
     * its key; an unbound one only as Bearer (and not at all when DPoP is required). Returns a promise
     * only for the replay check of a proof.
     */
    function checkBinding(request: FastifyRequest, token: string, claims: AccessTokenClaims): void | Promise<void> {
      const jkt = claims.cnf?.jkt
      if (request.authScheme === 'bearer') {
        if (jkt !== undefined) throw new VerifierError('invalid_token', 'this token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof')
        if (dpop?.mode === 'required') throw new VerifierError('invalid_token', 'only DPoP-bound tokens are accepted here: sign in with a DPoP proof')
        return
      }
      if (!dpop) throw new VerifierError('invalid_token', 'DPoP is not accepted here')
      if (jkt === undefined) throw new VerifierError('invalid_token', 'the token is not DPoP-bound: send it as Authorization: Bearer')
      const checked = checkDpopProof(dpop, request, token)
      if (!(checked instanceof Promise)) return provedKey(checked, jkt)
      return checked.then((proof) => provedKey(proof, jkt))
    }

    /** The token as presented, verified and checked against its key binding. */
    function verify(request: FastifyRequest): AccessTokenClaims | Promise<AccessTokenClaims> {
      refuseAmbiguousCredentials(request)
      const plain = plainBearerToken(request.headers.authorization)
      let token: string
      if (plain === undefined) {
        token = presentedToken(request, dpop !== undefined).token
      } else {
        token = plain
        request.authScheme = 'bearer'
      }
      let claims: AccessTokenClaims | Promise<AccessTokenClaims>
      try {
        claims = options.verifyToken(token)
      } catch (err) {
        // A refusal reads as if the header had been parsed strictly first (e.g. "malformed").
        if (plain !== undefined) presentedToken(request, dpop !== undefined)
        throw err
      }
      if (claims instanceof Promise) return claims.then((c) => bound(request, token, c))
      return bound(request, token, claims)
    }

    function bound(request: FastifyRequest, token: string, claims: AccessTokenClaims): AccessTokenClaims | Promise<AccessTokenClaims> {
      // The common case — an unbound token sent as Bearer where bearer tokens are fine — costs one comparison.
      if (claims.cnf === undefined && request.authScheme === 'bearer' && dpop?.mode !== 'required') return claims
      const checked = checkBinding(request, token, claims)
      return checked instanceof Promise ? checked.then(() => claims) : claims
    }

    app.addHook('onRequest', function verifyToken(request, reply, done: HookHandlerDoneFunction) {
      const config = request.routeOptions.config
      if (config.public || request.is404) return done()
      let verified: AccessTokenClaims | Promise<AccessTokenClaims>
      try {
        verified = verify(request)
      } catch (err) {
        return refuse(request, reply, err)
      }
      if (verified instanceof Promise) {
        verified.then(
          (claims) => admit(request, reply, claims, config, done),
          (err: unknown) => refuse(request, reply, err),
        )
        return
      }
      admit(request, reply, verified, config, done)
    })
  },
  { name: 'latchkey-authenticate', fastify: '5.x' },
)

function provedKey(proof: VerifiedDpopProof, jkt: string): void {
  if (proof.jkt !== jkt) throw new DpopError('invalid_dpop_proof', "the proof's key is not the key the token is bound to")
}

function replayed(): DpopError {
  return new DpopError('invalid_dpop_proof', 'this DPoP proof was used before: sign a new one for each request')
}

const NO_SCOPES: readonly string[] = Object.freeze([])
