import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { buildApp, type AppDeps } from '../../src/app.ts'
import { createFixedClock } from '../../src/clock.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import type { KeyRing } from '../../src/keys/key-ring.ts'
import { createLogger } from '../../src/logger.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { assertMatchesContract } from './contract.ts'
import { inMemoryKeyRing } from './keys.ts'

export const T0 = Date.parse('2026-01-01T00:00:00Z')

/** The DPoP challenge every 401/403 carries beside the Bearer one (DPOP=allowed, the default). */
export const DPOP_CHALLENGE = 'DPoP realm="latchkey", algs="RS256 PS256 ES256 EdDSA"'
/** The challenge of a request that presented no token. */
export const BARE_CHALLENGE = `Bearer realm="latchkey", ${DPOP_CHALLENGE}`

export interface TestApp {
  app: FastifyInstance
  store: Store
  keys: KeyRing
  clock: ReturnType<typeof createFixedClock>
  config: Config
  /** Every line the app logged, for redaction tests. */
  logs: string[]
  /** app.inject, with every response checked against openapi.yaml. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse>
  close(): Promise<void>
}

export interface TestAppOptions {
  env?: Record<string, string>
  store?: Store
  keys?: KeyRing
  /** Use the configured (OWASP) argon2 cost instead of the cheap test cost. */
  realArgon2?: boolean
  deps?: Partial<AppDeps>
  /** Adds test-only routes after the app's own plugins, before it is ready. */
  routes?: (app: FastifyInstance) => void
}

/** A whole app on an in-memory SQLite store, in-memory keys and a fixed clock. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({ LOG_LEVEL: 'trace', ...options.env })
  const store = options.store ?? createSqliteStore({ path: ':memory:' })
  const keys = options.keys ?? (await inMemoryKeyRing())
  const clock = createFixedClock(T0)
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    },
  })
  const passwords = options.realArgon2
    ? undefined
    : createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 1000 })
  const app = await buildApp({
    config,
    keys,
    store,
    clock,
    logger: createLogger(config.logLevel, sink),
    ...(passwords ? { passwords } : {}),
    openapiYaml: readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'),
    ...options.deps,
  })
  options.routes?.(app)
  await app.ready()
  return {
    app,
    store,
    keys,
    clock,
    config,
    logs,
    async inject(opts) {
      const res = await app.inject(opts)
      assertMatchesContract({
        method: String(opts.method ?? 'GET'),
        url: String(opts.url),
        status: res.statusCode,
        headers: res.headers,
        body: res.body,
      })
      return res
    },
    async close() {
      await app.close()
      await store.close()
    },
  }
}

export const PASSWORD = 'correct horse battery staple'

let counter = 0
export function uniqueEmail(): string {
  return `user${++counter}.${process.pid}@example.com`
}

/** Registers a fresh user and returns its tokens. */
export async function registerUser(t: TestApp, email = uniqueEmail(), headers: Record<string, string> = {}) {
  const res = await t.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD }, headers })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { email, ...(res.json() as { access_token: string; refresh_token: string; scope: string; expires_in: number }) }
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

/** Signs an existing user in as one "device": each user agent gets its own session. */
export async function loginAs(t: TestApp, email: string, userAgent: string) {
  const res = await t.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD }, headers: { 'user-agent': userAgent } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json() as { access_token: string; refresh_token: string; scope: string }
}

/** An account with scope "user admin", created through the store as the CLI would, then signed in. */
export async function createAdmin(t: TestApp, email = uniqueEmail()) {
  const hasher = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 10 })
  const user = await t.store.createUser({ id: randomUUID(), email, passwordHash: await hasher.hash(PASSWORD), scope: 'user admin', createdAt: t.clock.now() })
  if (!user) throw new Error('admin email taken')
  return { user, ...(await loginAs(t, email, 'admin-console')) }
}
