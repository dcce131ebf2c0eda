import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import { AppError } from '../errors.ts'
import { hasScopes, type AccessTokenClaims } from '../tokens/access-token-claims.ts'
import { bearerChallenge } from './bearer-challenge.ts'
import { sendProblem, toAppError } from './error-handler.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no access token. Every other route does (secure by default). */
    public?: boolean
    /** Scopes the access token must carry (403 insufficient_scope otherwise). */
    scopes?: readonly string[]
    /** Also refuse tokens of revoked sessions (one store or Redis lookup per request). */
    revocationCheck?: boolean
    /** Set by the verification plugin on the routes it attached its hooks to. */
    latchkeyVerifies?: boolean
  }
  interface FastifyRequest {
    /** The verified access-token claims; null on public routes. */
    auth: AccessTokenClaims | null
  }
}

export interface AuthenticateOptions {
  realm: string
  /**
   * The one verification policy, bound to its keys and clock; throws (or rejects with) AppError on
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
  if (header === undefined || header === '') throw new AppError('missing_token', 'send an access token as Authorization: Bearer <token>')
  if (!/^bearer(\s|$)/i.test(header)) throw new AppError('missing_token', 'the Authorization scheme must be Bearer')
  request.bearerPresented = true
  const match = BEARER.exec(header)
  if (!match) throw new AppError('invalid_token', 'the bearer token is malformed')
  return match[1] as string
}

/**
 * The verification plugin. Every route registered after it that is not marked public gets the
 * verification hook (secure by default: a route added without thinking is protected), so the
 * plugin must be registered before the routes. The hooks are attached per route, from the route's
 * own config read once at registration: a request pays no lookup of its route options, and public
 * routes pay nothing at all. Verification is synchronous for every token whose key is at hand; only
 * an unknown-key fetch (resource servers) and routes that opt into the revocation check pay for an
 * asynchronous step.
 */
export const authenticatePlugin = fp(
  async function authenticate(app: FastifyInstance, options: AuthenticateOptions) {
    app.decorateRequest('auth', null)
    if (!app.hasRequestDecorator('bearerPresented')) app.decorateRequest('bearerPresented', false)

    function refuse(request: FastifyRequest, reply: FastifyReply, err: unknown, scopes: readonly string[] = []): void {
      const appError = toAppError(err)
      if (appError.status === 401 || appError.status === 403) {
        reply.header('www-authenticate', bearerChallenge(options.realm, appError, request.bearerPresented, scopes))
      }
      request.log.info({ code: appError.code }, 'authentication refused')
      sendProblem(request, reply, appError, options.realm)
    }

    function admit(request: FastifyRequest, reply: FastifyReply, claims: AccessTokenClaims, scopes: readonly string[], done: HookHandlerDoneFunction): void {
      if (!hasScopes(claims.scope, scopes)) {
        return refuse(request, reply, new AppError('insufficient_scope', `this route requires scope: ${scopes.join(' ')}`), scopes)
      }
      request.auth = claims
      done()
    }

    /** `routeConfig`: the route's config object, which a later onRoute hook may still mark public. */
    function verifyBearerFor(scopes: readonly string[], routeConfig?: { public?: boolean }) {
      return function verifyBearer(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
        // A later onRoute hook may still mark the route public by mutating this config in place (the
        // docs page does). One that replaces the object instead is not seen, which fails closed: a 401.
        if (routeConfig?.public) return done()
        let verified: AccessTokenClaims | Promise<AccessTokenClaims>
        try {
          verified = options.verifyToken(bearerToken(request))
        } catch (err) {
          return refuse(request, reply, err)
        }
        if (verified instanceof Promise) {
          verified.then(
            (claims) => admit(request, reply, claims, scopes, done),
            (err: unknown) => refuse(request, reply, err),
          )
          return
        }
        admit(request, reply, verified, scopes, done)
      }
    }

    function checkRevocation(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      const isRevoked = options.isSessionRevoked
      if (!request.auth) return done()
      if (!isRevoked) return done(new Error('revocationCheck requested but no revoked-session set is configured'))
      isRevoked(request.auth.sid).then(
        (revoked) => (revoked ? refuse(request, reply, new AppError('session_revoked', 'this session has been revoked')) : done()),
        (err: unknown) => done(err as Error),
      )
    }

    app.addHook('onRoute', (route) => {
      const config = route.config ?? {}
      if (config.public) return
      const routeConfig = { ...config, latchkeyVerifies: true }
      route.config = routeConfig
      // Route-level hooks run after the global ones, and this one before the route's own.
      route.onRequest = [verifyBearerFor(config.scopes ?? [], routeConfig), ...[route.onRequest ?? []].flat()]
      if (config.revocationCheck) route.preHandler = [checkRevocation, ...[route.preHandler ?? []].flat()]
    })

    // The safety net: a route this plugin never saw being added (registered before it, as a
    // service using the verifier might do) still needs a valid token. Root hooks reach every route,
    // and onRequest runs before anything of the route's own, so nothing there sees an unverified request.
    app.addHook('onRequest', function verifyUnhookedRoute(request, reply, done: HookHandlerDoneFunction) {
      const config = request.routeOptions.config
      if (config.latchkeyVerifies || config.public || request.is404) return done()
      verifyBearerFor(config.scopes ?? [])(request, reply, (err) => {
        if (err) return done(err)
        if (config.revocationCheck) return checkRevocation(request, reply, done)
        done()
      })
    })
  },
  { name: 'latchkey-authenticate', fastify: '5.x' },
)
