import { randomBytes, randomUUID } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { createAdminService } from './accounts/admin-service.ts'
import { assuranceOf } from './accounts/assurance.ts'
import { createAuditLog } from './accounts/audit-log.ts'
import { createAuthService } from './accounts/auth-service.ts'
import { createRedisDpopNonces } from './accounts/redis-dpop-nonces.ts'
import { createRedisDpopReplayCache } from './accounts/redis-dpop-replay-cache.ts'
import { createEmailChange } from './accounts/email-change.ts'
import { createEmailVerification } from './accounts/email-verification.ts'
import { createLinkMail } from './accounts/link-mail.ts'
import { createMfaService, type MfaService } from './accounts/mfa-service.ts'
import { createSecretBox, type DataKeys } from './accounts/secret-box.ts'
import { createPasswordReset } from './accounts/password-reset.ts'
import { createPasswordChanger } from './accounts/password-change.ts'
import { createPasswordHasher, type PasswordHasher } from './accounts/passwords.ts'
import { createRedisRevokedSessionSet } from './accounts/redis-revoked-sessions.ts'
import { withRevocationFeed } from './accounts/revocation-feed.ts'
import { createStoreRevokedSessionSet, revocationTtlSeconds, type RevokedSessionSet } from './accounts/revoked-sessions.ts'
import { createSessionService } from './accounts/session-service.ts'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { KeyRing } from './keys/key-ring.ts'
import type { Metrics } from './metrics.ts'
import { lazyChildLoggerFactory } from './logger.ts'
import {
  authenticatePlugin,
  createMemoryDpopNonces,
  createMemoryDpopReplayCache,
  DPOP_ALGORITHMS,
  type ChallengeOptions,
  type DpopOptions,
} from '@latchkey/verifier'
import { createClientErrorHandler } from './plugins/client-error-handler.ts'
import { corsPlugin } from './plugins/cors.ts'
import { createCsrfCheck } from './plugins/csrf.ts'
import { errorHandlerPlugin, sendProblem, toAppError } from './plugins/error-handler.ts'
import { jsonBodyPlugin } from './plugins/json-body.ts'
import { notFoundPlugin } from './plugins/not-found.ts'
import { rateLimitPlugin } from './plugins/rate-limit.ts'
import { createRefreshCookie } from './plugins/refresh-cookie.ts'
import { applyResponseDefaults, securityHeadersPlugin } from './plugins/security-headers.ts'
import { accountMailRoutes } from './routes/account-mail.ts'
import { adminRoutes } from './routes/admin.ts'
import { authRoutes } from './routes/auth.ts'
import { createDpopBindingCheck } from './routes/dpop-binding.ts'
import { docsRoutes } from './routes/docs.ts'
import { healthRoutes } from './routes/health.ts'
import { meRoutes } from './routes/me.ts'
import { mfaAdminRoutes, mfaRoutes, mfaSignInRoutes } from './routes/mfa.ts'
import { refuseRouteSchemas } from './routes/parse.ts'
import { createPasskeyService } from './passkeys/passkey-service.ts'
import { passkeyAuthRoutes, passkeyMeRoutes } from './routes/passkeys.ts'
import { passwordRoutes } from './routes/password.ts'
import { createRefreshDelivery } from './routes/refresh-delivery.ts'
import { sessionRoutes } from './routes/sessions.ts'
import { wellKnownRoutes } from './routes/well-known.ts'
import type { Store } from './store/store.ts'
import { createAccessTokenVerifier } from './tokens/access-token-verifier.ts'
import { createVerifiedTokenCache } from './tokens/verified-token-cache.ts'

export interface AppDeps {
  config: Config
  keys: KeyRing
  store: Store
  clock: Clock
  logger: FastifyBaseLogger
  /** Defaults to argon2id at the configured parameters; tests may pass cheaper ones. */
  passwords?: PasswordHasher
  /**
   * Shared state for several instances (DESIGN §2): rate-limit counters and the revoked-session
   * set. Without it both live in the process (the set in the store). The caller owns the client.
   */
  redis?: Redis
  /** Prometheus metrics (src/metrics.ts); the server serves them on their own listener. */
  metrics?: Metrics
  /** The OpenAPI document served at /openapi.yaml. */
  openapiYaml?: string
  /**
   * The outbox drainer (src/mail/outbox-drainer.ts), started by the server: told when a flow
   * queues mail so it goes out at once. Without it mail waits in the outbox for a drainer elsewhere.
   */
  mailer?: { kick(): void }
  /**
   * Keys the decoy credentials that email-first passkey sign-in shows for addresses without
   * passkeys. Default: a random key kept in the store, shared by every instance.
   */
  passkeyDecoyKey?: Uint8Array
  /**
   * Keys for secrets at rest (TOTP seeds). Defaults to DATA_ENCRYPTION_KEY(S) from the config; the
   * server passes its generated development key when that is unset. Without either, a key is made
   * for this process alone (tests): secrets sealed with it do not survive a restart.
   */
  dataKeys?: DataKeys
}

export const REALM = 'latchkey'

/** Builds the whole API from injected parts; touches no environment, disk or network itself. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, clock, keys, redis, metrics } = deps
  const { limits } = config
  // Every 401/403 names the schemes a client may use: Bearer, and DPoP with its proof algorithms.
  const challenge: ChallengeOptions = { realm: REALM, ...(config.dpop.mode === 'off' ? {} : { dpopAlgs: DPOP_ALGORITHMS }) }
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.bodyLimit,
    // A hop count trusts exactly that many proxies in front (proxy-addr's own semantics).
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyChildLoggerFactory,
    requestIdHeader: false,
    // During a graceful shutdown a request already arriving on an open keep-alive socket is served
    // (with Connection: close) rather than refused with Fastify's non-problem 503: the listener is
    // closed, so each such socket carries one last request and the drain still converges, bounded
    // by SHUTDOWN_TIMEOUT.
    return503OnClosing: false,
    // Slow or stuck clients cannot hold a socket: headers, the whole request, and idle keep-alive
    // each have a deadline. Node checks the first two on a timer, so the timer must tick faster
    // than the shortest deadline or a slowloris gets up to 30 s (Node's default interval) extra.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    http: {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    clientErrorHandler: createClientErrorHandler(deps.logger),
    schemaController: { compilersFactory: { buildValidator: refuseRouteSchemas, buildSerializer: refuseRouteSchemas } },
    // Undecodable paths (`/x/%zz`) and over-long path parameters never reach a route or any hook,
    // so the headers the hooks would add are set here.
    frameworkErrors: (err, request, reply) => {
      applyResponseDefaults(request, reply)
      return sendProblem(request, reply, toAppError(err), challenge)
    },
  })
  if (limits.maxConnections > 0) app.server.maxConnections = limits.maxConnections

  // Only JSON bodies: anything else is a 415 rather than a string handed to a handler.
  app.removeContentTypeParser(['text/plain'])
  await app.register(jsonBodyPlugin, { maxDepth: limits.jsonMaxDepth })

  // First, so that every response — refusals from later hooks included — carries the headers.
  await app.register(securityHeadersPlugin)
  await app.register(errorHandlerPlugin, challenge)
  await app.register(notFoundPlugin)

  // Once close begins, a response that finishes tells its client to hang up: otherwise its
  // keep-alive socket idles on (Fastify reaps idle sockets only once, as close starts) and the
  // drain waits for KEEP_ALIVE_TIMEOUT instead of the last response.
  let draining = false
  app.addHook('preClose', (done) => {
    draining = true
    done()
  })

  // Synchronous (done callback) rather than async: an async hook costs every response a promise.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })

  if (metrics) {
    metrics.trackActiveSessions(() => deps.store.countActiveSessions(clock.now()))
    metrics.trackOutbox(async () => {
      const now = clock.now()
      const { pending, oldestPendingAt } = await deps.store.outbox.stats(now)
      return { pending, oldestPendingAgeSeconds: oldestPendingAt === null ? 0 : Math.max(0, (now - oldestPendingAt) / 1000) }
    })
    metrics.trackSigningKeys(() => keys.current.records, () => clock.now())
    app.addHook('onResponse', (request, reply, done) => {
      const status = reply.statusCode
      if (status === 401 || status === 403) metrics.authFailures.inc({ status, code: reply.problemCode ?? 'unknown' })
      metrics.observeRequest(request.routeOptions.url, status, reply.elapsedTime / 1000)
      done()
    })
  }

  const passwords =
    deps.passwords ??
    createPasswordHasher({
      memoryCost: config.argon2.memoryCost,
      timeCost: config.argon2.timeCost,
      parallelism: config.argon2.parallelism,
      concurrency: config.argon2.concurrency,
      queueLimit: config.argon2.queueLimit,
      ...(metrics ? { onDuration: (seconds: number) => metrics.argon2Duration.observe(seconds) } : {}),
    })
  const revokedSessions: RevokedSessionSet = redis
    ? createRedisRevokedSessionSet({ redis, ttlSeconds: revocationTtlSeconds(config.clockTolerance) })
    : createStoreRevokedSessionSet(deps.store)
  // Every revocation the store makes reaches the set, whichever service asks for it.
  const store = withRevocationFeed(deps.store, revokedSessions, revocationTtlSeconds(config.clockTolerance) * 1000)
  const audit = createAuditLog(store, clock, metrics && ((type) => metrics.auditEvents.inc({ type })))
  // Mail flows (issue 17): every mailed link is made one way, and the drainer hears of new mail.
  const links = createLinkMail({ mail: config.mail, clock })
  const queued = () => deps.mailer?.kick()
  const verification = createEmailVerification({ store, clock, audit, links, queued })
  // Second factor (issue 18): the password sign-in asks it whether a challenge is due.
  const dataKeys = deps.dataKeys ?? (config.dataEncryption.current ? { current: config.dataEncryption.current, previous: config.dataEncryption.previous } : { current: randomBytes(32), previous: [] })
  // Each needs the other: a two-factor sign-in ends in auth.signIn, called only once both exist.
  const mfa: MfaService = createMfaService({
    config, store, clock, audit, box: createSecretBox(dataKeys), passwords,
    signIn: (user, assurance, ctx, binding) => auth.signIn(user, assurance, ctx, binding),
    ...(metrics
      ? {
          events: {
            challenged: () => metrics.mfaEvents.inc({ event: 'challenge' }),
            succeeded: () => metrics.mfaEvents.inc({ event: 'success' }),
            failed: () => metrics.mfaEvents.inc({ event: 'failure' }),
            locked: () => metrics.mfaEvents.inc({ event: 'lockout' }),
            accountLocked: () => metrics.mfaEvents.inc({ event: 'account_lockout' }),
            accountRefused: () => metrics.mfaEvents.inc({ event: 'account_locked_refusal' }),
          },
        }
      : {}),
  })
  const auth = createAuthService({
    secondFactor: mfa,
    verification: { createUser: verification.createUser, send: verification.send, required: config.mail.requireVerifiedEmail },
    config,
    store,
    keys,
    clock,
    passwords,
    audit,
    ...(metrics
      ? {
          events: {
            signed: (seconds: number) => metrics.signDuration.observe(seconds),
            rotated: () => metrics.refreshRotations.inc(),
            reuseDetected: () => metrics.reuseDetections.inc(),
            legacyUpgraded: (algorithm: string) => metrics.legacyPasswordUpgrades.inc({ algorithm }),
          },
        }
      : {}),
  })
  const sessions = createSessionService({ store, clock, audit })

  // Before authentication: preflights carry no token, and refusals must still be readable by the page.
  // With no browser origin configured nothing is shared cross-origin, so CORS would only add headers
  // (Vary, Allow-Credentials, Expose-Headers) to every response: ~1.4 µs each, measured.
  if (config.corsOrigins.length > 0) await app.register(corsPlugin, { origins: config.corsOrigins, maxAge: config.corsMaxAge })
  // Before the routes: the plugin attaches its hook to each route that names a policy.
  if (config.rateLimitEnabled) await app.register(rateLimitPlugin, { limits: config.rateLimits, redis, refreshCookieName: config.refreshCookie.name })

  const tokenCache =
    config.tokenCache.ttlMs > 0 && config.tokenCache.maxEntries > 0 ? createVerifiedTokenCache(config.tokenCache) : undefined
  if (tokenCache) {
    // A token verified against the old keys must be checked again against the new ones.
    const stopListening = keys.onChange(() => tokenCache.clear())
    app.addHook('onClose', async () => stopListening())
  }
  const verifyToken = createAccessTokenVerifier({
    keys: () => keys.current.verificationKeys,
    policy: { issuer: config.issuer, audience: config.audience, clockTolerance: config.clockTolerance },
    clock,
    ...(tokenCache ? { cache: tokenCache } : {}),
  })

  // One replay cache for proofs at sign-in, refresh and protected routes: shared through Redis when set.
  const dpopReplay = redis ? createRedisDpopReplayCache(redis) : createMemoryDpopReplayCache()
  const nonceLifetime = config.dpop.nonceLifetime
  const dpopNonces = (lifetime: number) => (redis ? createRedisDpopNonces(redis, lifetime) : createMemoryDpopNonces(lifetime, () => randomBytes(16).toString('base64url')))
  const dpop: DpopOptions | undefined =
    config.dpop.mode === 'off'
      ? undefined
      : {
          mode: config.dpop.mode,
          publicUrl: config.publicUrl,
          maxAge: config.dpop.proofMaxAge,
          clockTolerance: config.clockTolerance,
          replay: dpopReplay,
          now: () => Math.floor(clock.now() / 1000),
          algs: DPOP_ALGORITHMS,
          ...(nonceLifetime === undefined ? {} : { nonces: dpopNonces(nonceLifetime) }),
        }
  await app.register(authenticatePlugin, {
    ...challenge,
    verifyToken: metrics ? timed(verifyToken, (seconds) => metrics.verifyDuration.observe(seconds)) : verifyToken,
    isSessionRevoked: (sid) => revokedSessions.isRevoked(sid),
    // Step-up (issue 18): the configured level names, weakest first, and the app's clock for max_age.
    acrLevels: [config.assurance.singleFactorAcr, config.assurance.multiFactorAcr],
    now: () => Math.floor(clock.now() / 1000),
    ...(dpop ? { dpop } : {}),
  })

  const delivery = createRefreshDelivery({
    cookie: createRefreshCookie(config.refreshCookie),
    csrf: createCsrfCheck({ allowedOrigins: config.corsOrigins, audit }),
  })
  // Only the auth routes read or set the refresh cookie, so @fastify/cookie's two hooks (parse on
  // request, serialise on send) run for them alone rather than for every protected call.
  // Passkeys (issue 22): a sign-in with one ends like a password sign-in.
  const passkeys = createPasskeyService({
    config,
    store,
    clock,
    audit,
    signIn: (user, amr, ctx, binding) => auth.signIn(user, assuranceOf(amr, clock, config), ctx, binding),
    ...(deps.passkeyDecoyKey ? { decoyKey: deps.passkeyDecoyKey } : {}),
    ...(metrics ? { onCeremony: (ceremony: string, outcome: string) => metrics.passkeyCeremonies.inc({ ceremony, outcome }) } : {}),
  })
  await app.register(async function refreshCookieScope(scope) {
    await scope.register(fastifyCookie)
    await scope.register(authRoutes, { auth, delivery, dpopBinding: createDpopBindingCheck(dpop) })
    await scope.register(passkeyAuthRoutes, { passkeys, delivery, dpopBinding: createDpopBindingCheck(dpop) })
    await scope.register(mfaSignInRoutes, { mfa, delivery, dpopBinding: createDpopBindingCheck(dpop) })
  })
  await app.register(meRoutes, { store })
  // Revoking every session and changing the password want a recent sign-in (issue 18, RFC 9470 max_age).
  const recentSignIn = { maxAge: config.assurance.stepUpMaxAge }
  await app.register(sessionRoutes, { sessions, recentSignIn })
  await app.register(mfaRoutes, { mfa, recentSignIn, recentStrongSignIn: { acr: config.assurance.multiFactorAcr, ...recentSignIn } })
  await app.register(passwordRoutes, { changePassword: createPasswordChanger({ store, passwords, audit, sessions }), recentSignIn })
  await app.register(passkeyMeRoutes, { passkeys, store, recentSignIn })
  await app.register(mfaAdminRoutes, { mfa, store })
  await app.register(adminRoutes, { admin: createAdminService({ store, clock, audit, sessions }) })
  const reset = createPasswordReset({ store, clock, audit, links, passwords, sessions, logger: deps.logger, queued })
  // A forgot-password request answered just before close still gets its mail queued.
  app.addHook('onClose', () => reset.settled())
  await app.register(accountMailRoutes, { verification, reset, requestEmailChange: createEmailChange({ store, audit, links, passwords, queued }) })
  await app.register(wellKnownRoutes, { keys, jwksMaxAge: config.jwksMaxAge, issuer: config.issuer, publicUrl: config.publicUrl })
  const checks = [{ name: 'store', check: () => store.ping() }]
  if (redis) checks.push({ name: 'redis', check: async () => void (await redis.ping()) })
  metrics?.trackDependencies(checks)
  await app.register(healthRoutes, { checks })
  if (deps.openapiYaml) await app.register(docsRoutes, { openapiYaml: deps.openapiYaml, publicUrl: config.publicUrl })

  return app
}

/** Wraps the synchronous verifier with one hrtime pair per call: cheap enough for the hot path. */
function timed<A extends unknown[], R>(fn: (...args: A) => R, observe: (seconds: number) => void): (...args: A) => R {
  return (...args) => {
    const started = process.hrtime.bigint()
    try {
      return fn(...args)
    } finally {
      observe(Number(process.hrtime.bigint() - started) / 1e9)
    }
  }
}

function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}
