import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { hasScopes, type AccessTokenClaims } from './access-token-claims.ts'
import { bearerChallenge } from './bearer-challenge.ts'
import { decorateProblemFields, sendProblem, toProblemError } from './error-handler.ts'
import { VerifierError } from './problem.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no access token. Every other route does (secure by default). */
    public?: boolean
    /** Scopes the access token must carry (403 insufficient_scope otherwise). */
    scopes?: readonly string[]
    /** Also refuse tokens of revoked sessions (one store or Redis lookup per request). */
    revocationCheck?: boolean
  }
  interface FastifyRequest {
    /** The verified access-token claims; null on public routes. */
    auth: AccessTokenClaims | null
  }
}

export interface AuthenticateOptions {
  realm: string
  /**
   * The one verification policy, bound to its keys and clock; throws (or rejects with) a ProblemError on
   * any failure. It answers synchronously whenever it can; a promise is only for the rare token whose
   * key must be fetched first (the resource-server verifier meeting an unknown `kid`).
   */
  verifyToken: (token: string) => AccessTokenClaims | Promise<AccessTokenClaims>
  /** Answers whether a session was revoked; required when any route asks for revocationCheck. */
  isSessionRevoked?: (sessionId: string) => Promise<boolean>
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** Reads the bearer token; throws the RFC 6750 error for a missing or malformed header. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  if (header === undefined || header === '') throw new VerifierError('missing_token', 'send an access token as Authorization: Bearer <token>')
  if (!/^bearer(\s|$)/i.test(header)) throw new VerifierError('missing_token', 'the Authorization scheme must be Bearer')
  request.bearerPresented = true
  const match = BEARER.exec(header)
  if (!match) throw new VerifierError('invalid_token', 'the bearer token is malformed')
  return match[1] as string
}

/**
 * The token of a header in the form clients send (`Bearer ` and the token, nothing else), without
 * scanning its ~800 characters with a regular expression; undefined for any other form, which
 * bearerToken parses strictly. Safe to hand to the verifier unchecked: whenever bearerToken accepts
 * such a header it returns this same string, and the verifier (and its cache, which holds only
 * tokens it accepted) accepts nothing that bearerToken would refuse.
 */
function plainBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || !header.startsWith('Bearer ')) return undefined
  // Extra spaces around the token are allowed (RFC 6750's grammar); bearerToken strips them.
  if (header.charCodeAt(7) === 32 || header.charCodeAt(header.length - 1) === 32) return undefined
  return header.slice(7)
}

/**
 * The verification plugin: one root onRequest hook that runs for every route, whenever and wherever
 * it was registered (before this plugin too, as a service using the verifier might do), so a route
 * added without thinking is protected (secure by default). It reads the route's config as the
 * request arrives, so a route marked public by a later onRoute hook is seen as such. Registered
 * after the security headers and CORS and before any route's own hooks, nothing of a route runs on
 * an unverified request. Verification is synchronous for every token whose key is at hand; only an
 * unknown-key fetch (resource servers) and routes that opt into the revocation check pay for an
 * asynchronous step.
 */
export const authenticatePlugin = fp(
  async function authenticate(app: FastifyInstance, options: AuthenticateOptions) {
    app.decorateRequest('auth', null)
    decorateProblemFields(app)

    function refuse(request: FastifyRequest, reply: FastifyReply, err: unknown, scopes: readonly string[] = []): void {
      const appError = toProblemError(err)
      if ((appError.status === 401 || appError.status === 403) && appError.challenge) {
        reply.header('www-authenticate', bearerChallenge(options.realm, appError, request.bearerPresented, scopes))
      }
      request.log.info({ code: appError.code }, 'authentication refused')
      sendProblem(request, reply, appError, options.realm)
    }

    function admit(request: FastifyRequest, reply: FastifyReply, claims: AccessTokenClaims, config: FastifyContextConfig, done: HookHandlerDoneFunction): void {
      const scopes = config.scopes ?? NO_SCOPES
      if (!hasScopes(claims.scope, scopes)) {
        return refuse(request, reply, new VerifierError('insufficient_scope', `this route requires scope: ${scopes.join(' ')}`), scopes)
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

    /** The token as presented: the common form without a scan, anything else parsed strictly. */
    function verify(request: FastifyRequest): AccessTokenClaims | Promise<AccessTokenClaims> {
      const plain = plainBearerToken(request.headers.authorization)
      if (plain === undefined) return options.verifyToken(bearerToken(request))
      request.bearerPresented = true
      try {
        return options.verifyToken(plain)
      } catch (err) {
        // A refusal reads as if the header had been parsed strictly first (e.g. "malformed").
        bearerToken(request)
        throw err
      }
    }

    app.addHook('onRequest', function verifyBearer(request, reply, done: HookHandlerDoneFunction) {
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

const NO_SCOPES: readonly string[] = Object.freeze([])
