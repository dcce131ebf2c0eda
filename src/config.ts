import { z } from 'zod'

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1')

const seconds = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number of seconds' })
    .int({ message: 'must be a whole number of seconds' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` })

/**
 * A duration in seconds, fractions allowed (tests use sub-second timeouts); stored as milliseconds.
 * Give defaults with `.prefault` so they pass through the conversion too.
 */
const duration = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number of seconds' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` })
    .transform((s) => Math.round(s * 1000))

const databaseUrl = z
  .string()
  .refine((v) => v === 'sqlite::memory:' || v.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be sqlite:<path>, sqlite::memory: or postgres://…',
  })

const originList = z
  .string()
  .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
  .pipe(z.array(z.url({ message: 'must be a comma-separated list of origins like https://app.example.com' })))

/** The environment Latchkey reads; every name is documented in the README's configuration table. */
export const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3000),
  DATABASE_URL: databaseUrl.default('sqlite:./data/latchkey.db'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, { message: 'must be redis://… or rediss://…' }).optional(),
  KEYS_DIR: z.string().min(1).default('./keys'),
  ISSUER: z.url({ message: 'must be a URL, e.g. http://127.0.0.1:3000' }).default('http://127.0.0.1:3000'),
  AUDIENCE: z.string().min(1).default('latchkey'),
  ACCESS_TOKEN_TTL: seconds(60, 3600).default(600),
  CLOCK_TOLERANCE: seconds(0, 300).default(30),
  REFRESH_IDLE_TTL: seconds(60, 365 * 86400).default(30 * 86400),
  REFRESH_ABSOLUTE_TTL: seconds(60, 5 * 365 * 86400).default(90 * 86400),
  REFRESH_GRACE_PERIOD: seconds(0, 120).default(10),
  JWKS_MAX_AGE: seconds(0, 86400).default(300),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  CORS_ORIGINS: originList.default([]),
  RATE_LIMIT_ENABLED: booleanFromEnv.default(true),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(8192).max(1048576).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).max(10).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  ARGON2_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  ARGON2_QUEUE_LIMIT: z.coerce.number().int().min(0).max(10000).default(64),
  BODY_LIMIT: z.coerce.number().int().min(1024).max(1048576).default(16384),
  TRUST_PROXY: booleanFromEnv.default(false),
  // Limits that keep slow, hostile or runaway clients from holding the process (issue 9).
  REQUEST_TIMEOUT: duration(0.1, 600).prefault(30),
  HEADERS_TIMEOUT: duration(0.1, 600).prefault(10),
  KEEP_ALIVE_TIMEOUT: duration(0.1, 600).prefault(72),
  CONNECTION_TIMEOUT: duration(0, 3600).prefault(0),
  MAX_HEADER_SIZE: z.coerce.number().int().min(1024).max(65536).default(16384),
  MAX_CONNECTIONS: z.coerce.number().int().min(0).max(1_000_000).default(4096),
  MAX_REQUESTS_PER_SOCKET: z.coerce.number().int().min(0).max(1_000_000).default(0),
  JSON_MAX_DEPTH: z.coerce.number().int().min(1).max(1000).default(32),
  SHUTDOWN_TIMEOUT: duration(0.1, 600).prefault(10),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a lower-case SQL identifier' }).optional(),
})

export type Env = z.infer<typeof EnvSchema>

export interface Config {
  host: string
  port: number
  databaseUrl: string
  redisUrl: string | undefined
  keysDir: string
  issuer: string
  audience: string
  accessTokenTtl: number
  clockTolerance: number
  refreshIdleTtl: number
  refreshAbsoluteTtl: number
  refreshGracePeriod: number
  jwksMaxAge: number
  logLevel: Env['LOG_LEVEL']
  metricsPort: number | undefined
  metricsHost: string
  corsOrigins: string[]
  rateLimitEnabled: boolean
  argon2: { memoryCost: number; timeCost: number; parallelism: number; concurrency: number | undefined; queueLimit: number }
  bodyLimit: number
  trustProxy: boolean
  limits: Limits
  /** PostgreSQL: the schema holding Latchkey's tables (unset: the server's search_path). */
  databaseSchema: string | undefined
}

/** Connection and parsing limits; durations in milliseconds, 0 meaning "no limit" where Node allows it. */
export interface Limits {
  /** Whole request, headers and body, must arrive within this (Node's requestTimeout). */
  requestTimeoutMs: number
  /** Headers must arrive within this: the slowloris bound. */
  headersTimeoutMs: number
  /** An idle keep-alive socket is closed after this. */
  keepAliveTimeoutMs: number
  /** Socket inactivity timeout; 0 leaves it to the three above. */
  connectionTimeoutMs: number
  maxHeaderSize: number
  /** Sockets beyond this are closed on accept; 0 = no cap. */
  maxConnections: number
  /** Requests served on one keep-alive socket before it is closed; 0 = no cap. */
  maxRequestsPerSocket: number
  jsonMaxDepth: number
  /** SIGTERM: in-flight requests get this long before the process exits anyway. */
  shutdownTimeoutMs: number
}

export class ConfigError extends Error {
  readonly issues: string[]
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`)
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** Validates the environment; pure, so tests pass any object. Throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = EnvSchema.safeParse(present)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment')
        return `${name}=${JSON.stringify(present[name] ?? '')}: ${issue.message}`
      }),
    )
  }
  const e = parsed.data
  if (e.REFRESH_IDLE_TTL > e.REFRESH_ABSOLUTE_TTL) {
    throw new ConfigError([`REFRESH_IDLE_TTL=${e.REFRESH_IDLE_TTL}: must not exceed REFRESH_ABSOLUTE_TTL (${e.REFRESH_ABSOLUTE_TTL})`])
  }
  // Node refuses to start a server whose headers timeout exceeds its request timeout.
  if (e.HEADERS_TIMEOUT > e.REQUEST_TIMEOUT) {
    throw new ConfigError([`HEADERS_TIMEOUT=${e.HEADERS_TIMEOUT / 1000}: must not exceed REQUEST_TIMEOUT (${e.REQUEST_TIMEOUT / 1000})`])
  }
  return {
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    keysDir: e.KEYS_DIR,
    issuer: e.ISSUER,
    audience: e.AUDIENCE,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    clockTolerance: e.CLOCK_TOLERANCE,
    refreshIdleTtl: e.REFRESH_IDLE_TTL,
    refreshAbsoluteTtl: e.REFRESH_ABSOLUTE_TTL,
    refreshGracePeriod: e.REFRESH_GRACE_PERIOD,
    jwksMaxAge: e.JWKS_MAX_AGE,
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    corsOrigins: e.CORS_ORIGINS,
    rateLimitEnabled: e.RATE_LIMIT_ENABLED,
    argon2: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency: e.ARGON2_CONCURRENCY,
      queueLimit: e.ARGON2_QUEUE_LIMIT,
    },
    bodyLimit: e.BODY_LIMIT,
    trustProxy: e.TRUST_PROXY,
    limits: {
      requestTimeoutMs: e.REQUEST_TIMEOUT,
      headersTimeoutMs: e.HEADERS_TIMEOUT,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT,
      connectionTimeoutMs: e.CONNECTION_TIMEOUT,
      maxHeaderSize: e.MAX_HEADER_SIZE,
      maxConnections: e.MAX_CONNECTIONS,
      maxRequestsPerSocket: e.MAX_REQUESTS_PER_SOCKET,
      jsonMaxDepth: e.JSON_MAX_DEPTH,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT,
    },
    databaseSchema: e.DATABASE_SCHEMA,
  }
}
