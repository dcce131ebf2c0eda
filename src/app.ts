import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createAuditLog } from './accounts/audit-log.ts'
import { createAuthService } from './accounts/auth-service.ts'
import { createPasswordHasher, type PasswordHasher } from './accounts/passwords.ts'
import { createStoreRevokedSessionSet, type RevokedSessionSet } from './accounts/revoked-sessions.ts'
import type { Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { KeyRing } from './keys/key-ring.ts'
import { authenticatePlugin } from './plugins/authenticate.ts'
import { errorHandlerPlugin } from './plugins/error-handler.ts'
import { notFoundPlugin } from './plugins/not-found.ts'
import { authRoutes } from './routes/auth.ts'
import { docsRoutes } from './routes/docs.ts'
import { healthRoutes } from './routes/health.ts'
import { meRoutes } from './routes/me.ts'
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
  revokedSessions?: RevokedSessionSet
  /** The OpenAPI document served at /openapi.yaml. */
  openapiYaml?: string
}

export const REALM = 'latchkey'

/** Builds the whole API from injected parts; touches no environment, disk or network itself. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store, clock, keys } = deps
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
  })

  // Only JSON bodies: anything else is a 415 rather than a string handed to a handler.
  app.removeContentTypeParser(['text/plain'])

  await app.register(errorHandlerPlugin, { realm: REALM })
  await app.register(notFoundPlugin)

  // Synchronous (done callback) rather than async: an async hook costs every response a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    // Responses carry tokens and account data: nothing may be cached unless a route says so.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    done(null, payload)
  })

  const passwords =
    deps.passwords ??
    createPasswordHasher({
      memoryCost: config.argon2.memoryCost,
      timeCost: config.argon2.timeCost,
      parallelism: config.argon2.parallelism,
      concurrency: config.argon2.concurrency,
      queueLimit: config.argon2.queueLimit,
    })
  const audit = createAuditLog(store, clock)
  const auth = createAuthService({ config, store, keys, clock, passwords, audit })
  const revokedSessions = deps.revokedSessions ?? createStoreRevokedSessionSet(store)

  const tokenCache =
    config.tokenCache.ttlMs > 0 && config.tokenCache.maxEntries > 0 ? createVerifiedTokenCache(config.tokenCache) : undefined
  if (tokenCache) {
    // A token verified against the old keys must be checked again against the new ones.
    const stopListening = keys.onChange(() => tokenCache.clear())
    app.addHook('onClose', async () => stopListening())
  }

  await app.register(authenticatePlugin, {
    realm: REALM,
    verifyToken: createAccessTokenVerifier({
      keys: () => keys.current.verificationKeys,
      policy: { issuer: config.issuer, audience: config.audience, clockTolerance: config.clockTolerance },
      clock,
      ...(tokenCache ? { cache: tokenCache } : {}),
    }),
    isSessionRevoked: (sid) => revokedSessions.isRevoked(sid),
  })

  await app.register(authRoutes, { auth })
  await app.register(meRoutes, { store })
  await app.register(wellKnownRoutes, { keys, jwksMaxAge: config.jwksMaxAge })
  await app.register(healthRoutes, { checks: [{ name: 'store', check: () => store.ping() }] })
  if (deps.openapiYaml) await app.register(docsRoutes, { openapiYaml: deps.openapiYaml })

  return app
}
