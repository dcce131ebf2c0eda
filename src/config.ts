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
  TOKEN_CACHE_TTL: seconds(0, 600).default(60),
  TOKEN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  WORKERS: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)], { message: 'must be auto or a number of processes (1–256)' })
    .default(1),
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
  /** Verified-token cache: entry cap in ms (0 = off) and size. */
  tokenCache: { ttlMs: number; maxEntries: number }
  /** Processes to serve from (node:cluster); 'auto' = one per core. */
  workers: number | 'auto'
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
  if (e.WORKERS !== 1 && e.DATABASE_URL === 'sqlite::memory:') {
    throw new ConfigError([`WORKERS=${e.WORKERS}: each worker would get its own empty in-memory database; use a sqlite file or postgres`])
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
    tokenCache: { ttlMs: e.TOKEN_CACHE_TTL * 1000, maxEntries: e.TOKEN_CACHE_MAX_ENTRIES },
    workers: e.WORKERS,
  }
}
