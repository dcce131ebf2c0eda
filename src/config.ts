import { isIP } from 'node:net'
import { z } from 'zod'
import { parseDataKey } from './accounts/secret-box.ts'

/** One entry of a trusted-proxy list as proxy-addr reads it: an address, a CIDR, or a named range. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (prefix === undefined) return true
  const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : -1
  return bits >= 0 && bits <= (family === 4 ? 32 : 128)
}

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

// Requests allowed per RATE_LIMIT_WINDOW for one key (an IP, an account, a refresh token).
const limit = z.coerce
  .number({ message: 'must be a whole number of requests' })
  .int({ message: 'must be a whole number of requests' })
  .min(1, { message: 'must be at least 1' })
  .max(1_000_000, { message: 'must be at most 1000000' })

/**
 * An origin as a browser sends it: http(s)://host[:port], nothing after it. `localhost:5173` parses
 * as a URL of scheme "localhost:" and would then match no browser's Origin, so it is refused.
 */
function originOf(entry: string): string | undefined {
  let url: URL
  try {
    url = new URL(entry)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) return undefined
  if (/[?#]$/.test(entry) || !/^https?:\/\/[^/]/i.test(entry)) return undefined
  return url.origin
}

const originList = z
  .string()
  .transform((v, ctx) => {
    const origins: string[] = []
    for (const entry of v.split(',').map((o) => o.trim()).filter(Boolean)) {
      const origin = originOf(entry)
      if (origin === undefined) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not an origin: write scheme://host[:port], e.g. https://app.example.com or http://localhost:5173` })
        return z.NEVER
      }
      // Browsers send a bare origin (no path, no trailing slash, default port dropped): compare like with like.
      origins.push(origin)
    }
    return origins
  })

/** Where clients reach this deployment: http(s), no query or fragment; a trailing slash is dropped. */
const publicUrl = z
  .url({ message: 'must be an http(s) URL, e.g. https://auth.example.com' })
  .refine((v) => /^https?:\/\//i.test(v) && !/[?#]/.test(v), { message: 'must be an http(s) URL with no query or fragment, e.g. https://auth.example.com' })
  .transform((v) => v.replace(/\/+$/, ''))

// RFC 6265 cookie-name token. `__Host-` names demand Path=/, which would send the refresh token on every request.
const cookieName = z
  .string()
  .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: 'must be a cookie name (letters, digits, !#$%&\'*+-.^_`|~)' })
  .refine((v) => !v.toLowerCase().startsWith('__host-'), { message: 'cannot use the __Host- prefix: the refresh cookie is scoped to Path=/auth' })

/** The environment Latchkey reads; every name is documented in docs/configuration.md (tested). */
export const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3000),
  DATABASE_URL: databaseUrl.default('sqlite:./data/latchkey.db'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a lowercase SQL identifier, e.g. latchkey' })
    .optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, { message: 'must be redis://… or rediss://…' }).optional(),
  REDIS_KEY_PREFIX: z.string().min(1).max(100).default('latchkey:'),
  KEYS_DIR: z.string().min(1).default('./keys'),
  PUBLIC_URL: publicUrl.optional(),
  // Unset: PUBLIC_URL, so a token's iss names where its keys and metadata are served.
  ISSUER: z.url({ message: 'must be a URL, e.g. https://auth.example.com' }).optional(),
  AUDIENCE: z.string().min(1).default('latchkey'),
  ACCESS_TOKEN_TTL: seconds(60, 3600).default(600),
  CLOCK_TOLERANCE: seconds(0, 300).default(30),
  REFRESH_IDLE_TTL: seconds(60, 365 * 86400).default(30 * 86400),
  REFRESH_ABSOLUTE_TTL: seconds(60, 5 * 365 * 86400).default(90 * 86400),
  REFRESH_GRACE_PERIOD: seconds(0, 120).default(10),
  JWKS_MAX_AGE: seconds(0, 86400).default(300),
  // Upper bound on how long a running server takes to see a key change the file watch missed.
  KEYS_RELOAD_INTERVAL: seconds(1, 3600).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  CORS_ORIGINS: originList.default([]),
  CORS_MAX_AGE: seconds(0, 86400).default(600),
  REFRESH_COOKIE_NAME: cookieName.default('latchkey_refresh'),
  REFRESH_COOKIE_DOMAIN: z.string().regex(/^\.?[A-Za-z0-9.-]+$/, { message: 'must be a domain name like example.com' }).optional(),
  REFRESH_COOKIE_PATH: z.string().regex(/^\/[\x21-\x3a\x3c-\x7e]*$/, { message: 'must be a path starting with /' }).default('/auth'),
  REFRESH_COOKIE_MAX_AGE: seconds(60, 5 * 365 * 86400).optional(),
  RATE_LIMIT_ENABLED: booleanFromEnv.default(true),
  RATE_LIMIT_WINDOW: seconds(1, 3600).default(60),
  RATE_LIMIT_REGISTER_PER_IP: limit.default(20),
  RATE_LIMIT_REGISTER_PER_ACCOUNT: limit.default(5),
  RATE_LIMIT_LOGIN_PER_IP: limit.default(100),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: limit.default(10),
  RATE_LIMIT_REFRESH_PER_IP: limit.default(300),
  RATE_LIMIT_REFRESH_PER_TOKEN: limit.default(30),
  RATE_LIMIT_PASSWORD_PER_IP: limit.default(50),
  RATE_LIMIT_PASSWORD_PER_ACCOUNT: limit.default(5),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(8192).max(1048576).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).max(10).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  ARGON2_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  ARGON2_QUEUE_LIMIT: z.coerce.number().int().min(0).max(10000).default(64),
  // Nice value of the thread pool (argon2, signing) below the event loop; 0 leaves it alone.
  THREAD_POOL_NICE: z.coerce.number().int().min(0).max(19).default(19),
  BODY_LIMIT: z.coerce.number().int().min(1024).max(1048576).default(16384),
  // `true` would trust every X-Forwarded-For hop, letting any client choose its own IP (and so
  // escape per-IP rate limits): only a hop count or the proxies' addresses are accepted.
  TRUST_PROXY: z
    .string()
    .refine((v) => v === 'false' || /^[1-9][0-9]?$/.test(v) || v.split(',').every((p) => isProxyAddress(p.trim())), {
      message: 'must be false, the number of proxy hops in front (1–99), or a comma-separated list of proxy addresses, CIDRs or loopback/linklocal/uniquelocal',
    })
    .transform((v): false | number | string => (v === 'false' ? false : /^[0-9]+$/.test(v) ? Number(v) : v.replace(/\s+/g, '')))
    .default(false),
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
  // RFC 9449: off, or sender-constrained tokens for clients that send proofs, or for all clients.
  DPOP: z.enum(['off', 'allowed', 'required'], { message: 'must be off, allowed or required' }).default('allowed'),
  DPOP_PROOF_MAX_AGE: seconds(5, 600).default(60),
  // RFC 9449 §8: proofs must carry a nonce the server issued, changed every DPOP_NONCE_LIFETIME seconds.
  DPOP_NONCE: booleanFromEnv.default(false),
  DPOP_NONCE_LIFETIME: seconds(10, 86400).default(300),
  // RFC 9068 client_id: the apps that may name themselves at sign-in (comma-separated); empty = none.
  CLIENT_IDS: z
    .string()
    .transform((v) => v.split(',').map((id) => id.trim()).filter(Boolean))
    .pipe(z.array(z.string().max(64).regex(/^[A-Za-z0-9._:-]+$/, 'client ids are letters, digits and . _ : -')))
    .default([]),
  TOKEN_CACHE_TTL: seconds(0, 600).default(60),
  TOKEN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  // Mail (issue 17; docs/mail.md).
  SMTP_URL: z.string().regex(/^smtps?:\/\/[^/?#]+/, { message: 'must be smtp://[user:pass@]host[:port] or smtps://…' }).optional(),
  MAIL_FROM: z.string().min(3).max(320).regex(/@/, { message: 'must be an address, e.g. "Latchkey <no-reply@example.com>"' }).optional(),
  MAIL_DIR: z.string().min(1).default('./data/mail'),
  MAIL_TEMPLATES_DIR: z.string().min(1).optional(),
  // Unset: PUBLIC_URL. Where the pages that read a link's token live, e.g. the SPA's origin.
  MAIL_LINK_BASE_URL: publicUrl.optional(),
  MAIL_SEND_TIMEOUT: seconds(1, 300).default(30),
  REQUIRE_VERIFIED_EMAIL: booleanFromEnv.default(false),
  EMAIL_VERIFY_TTL: seconds(300, 30 * 86400).default(86400),
  PASSWORD_RESET_TTL: seconds(300, 86400).default(1800),
  RATE_LIMIT_MAIL_WINDOW: seconds(60, 86400).default(3600),
  RATE_LIMIT_MAIL_PER_ADDRESS: limit.default(5),
  RATE_LIMIT_MAIL_PER_IP: limit.default(30),
  // Passkeys (issue 22; docs/passkeys.md). Unset: the host of PUBLIC_URL; its origin plus CORS_ORIGINS.
  WEBAUTHN_RP_ID: z
    .string()
    .regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, { message: 'must be a lowercase domain name, e.g. example.com' })
    .optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(100).default('Latchkey'),
  WEBAUTHN_ORIGINS: originList.optional(),
  // Assurance of a sign-in (issue 18): the `acr` names tokens carry, and how recent a sign-in sensitive routes want.
  ACR_SINGLE_FACTOR: z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/, { message: 'must be a short name without spaces or quotes, e.g. aal1' }).default('aal1'),
  ACR_MULTI_FACTOR: z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/, { message: 'must be a short name without spaces or quotes, e.g. aal2' }).default('aal2'),
  STEP_UP_MAX_AGE: seconds(30, 86400).default(300),
  // Second factor (issue 18; docs/mfa.md). Keys: base64url of 32 random bytes, e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d =`.
  DATA_ENCRYPTION_KEY: z.string().refine((v) => parseDataKey(v) !== null, { message: 'must be 32 bytes, base64url-encoded (43 characters)' }).optional(),
  DATA_ENCRYPTION_PREVIOUS_KEYS: z
    .string()
    .refine((v) => v.split(',').map((k) => k.trim()).filter(Boolean).every((k) => parseDataKey(k) !== null), { message: 'must be comma-separated keys of 32 bytes, base64url-encoded' })
    .optional(),
  TOTP_ISSUER: z.string().min(1).max(64).regex(/^[^:]+$/, { message: 'must not contain a colon' }).default('Latchkey'),
  MFA_CHALLENGE_TTL: seconds(60, 1800).default(300),
  MFA_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  // Across challenges (a fresh password sign-in each): wrong codes per account per window, then refused until it closes.
  MFA_ACCOUNT_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(10),
  MFA_ACCOUNT_FAILURE_WINDOW: seconds(60, 86400).default(900),
  // Retention (docs/operations.md, "Retention"): ended sessions are kept this long; the purge runs this often.
  RETENTION_DAYS: z.coerce.number({ message: 'must be a whole number of days' }).int({ message: 'must be a whole number of days' }).min(1, { message: 'must be at least 1' }).max(3650, { message: 'must be at most 3650' }).default(30),
  PURGE_INTERVAL_SECONDS: seconds(0, 7 * 86400)
    .refine((v) => v === 0 || v >= 60, { message: 'must be 0 (off) or at least 60' })
    .default(3600),
  PURGE_BATCH_SIZE: z.coerce.number({ message: 'must be a whole number of rows' }).int({ message: 'must be a whole number of rows' }).min(100, { message: 'must be at least 100' }).max(10_000, { message: 'must be at most 10000' }).default(1000),
  WORKERS: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(256)], { message: 'must be auto or a number of processes (1–256)' })
    .default(1),
})

export type Env = z.infer<typeof EnvSchema>

export interface Config {
  host: string
  port: number
  databaseUrl: string
  /** PostgreSQL schema holding Latchkey's tables; undefined = the server's search_path. */
  databaseSchema: string | undefined
  redisUrl: string | undefined
  /** Prepended to every Redis key, so several deployments (or test runs) can share one Redis. */
  redisKeyPrefix: string
  keysDir: string
  /** Where clients reach this deployment: links, the docs page's server, the default issuer. No trailing slash. */
  publicUrl: string
  /** True when PUBLIC_URL was not set and publicUrl was derived from HOST and PORT. */
  publicUrlDerived: boolean
  issuer: string
  audience: string
  accessTokenTtl: number
  clockTolerance: number
  refreshIdleTtl: number
  refreshAbsoluteTtl: number
  refreshGracePeriod: number
  jwksMaxAge: number
  keysReloadInterval: number
  logLevel: Env['LOG_LEVEL']
  metricsPort: number | undefined
  metricsHost: string
  /** Exact origins (scheme://host[:port]) allowed by CORS and by the CSRF check. */
  corsOrigins: string[]
  corsMaxAge: number
  refreshCookie: {
    name: string
    /** Unset: a host-only cookie. */
    domain: string | undefined
    path: string
    /** Upper bound on Max-Age; unset: the session's remaining lifetime. */
    maxAge: number | undefined
  }
  rateLimitEnabled: boolean
  rateLimits: RateLimits
  argon2: { memoryCost: number; timeCost: number; parallelism: number; concurrency: number | undefined; queueLimit: number }
  /** Nice value given to libuv's thread pool (argon2 hashes, token signing); 0 = unchanged. */
  threadPoolNice: number
  bodyLimit: number
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses/CIDRs. */
  trustProxy: false | number | string
  limits: Limits
  /** Verified-token cache: entry cap in ms (0 = off) and size. */
  tokenCache: { ttlMs: number; maxEntries: number }
  /** Processes to serve from (node:cluster); 'auto' = one per core. */
  workers: number | 'auto'
  /** Client ids a sign-in may name (RFC 9068 `client_id`); a session keeps the one it was started with. */
  clientIds: string[]
  /** DPoP (RFC 9449): refused, accepted, or demanded of every client; proofs older than maxAge seconds are refused. */
  dpop: {
    mode: 'off' | 'allowed' | 'required'
    proofMaxAge: number
    /** Seconds each server nonce is current (the previous one stays accepted); undefined = no nonces. */
    nonceLifetime: number | undefined
  }
  mail: MailConfig
  /** Passkeys: the relying party the browser binds credentials to, and the origins a ceremony may come from. */
  webauthn: { rpId: string; rpName: string; origins: string[] }
  /** Assurance (issue 18): `acr` for one factor and for several, and the recent-sign-in window of sensitive routes. */
  assurance: { singleFactorAcr: string; multiFactorAcr: string; stepUpMaxAge: number }
  /** Second factor: the issuer name in authenticator apps, how long a sign-in challenge lives (s), wrong codes before it locks. */
  mfa: { totpIssuer: string; challengeTtl: number; maxAttempts: number; accountMaxFailures: number; accountFailureWindow: number }
  /** Keys for secrets at rest; `current` undefined = the server generates a development key into KEYS_DIR. */
  dataEncryption: { current: Buffer | undefined; previous: Buffer[] }
  /** Days ended sessions are kept; how often the server purges (ms, 0 = never: run `latchkey purge`); rows per batch. */
  retention: { sessionRetentionDays: number; purgeIntervalMs: number; batchSize: number }
}

export interface MailConfig {
  /** Unset: messages are written as .eml files under `dir`. */
  smtpUrl: string | undefined
  from: string
  dir: string
  /** Replacement templates; a file missing there falls back to the built-in one. */
  templatesDir: string | undefined
  /** Base of every mailed link (no trailing slash): MAIL_LINK_BASE_URL, else PUBLIC_URL. */
  linkBaseUrl: string
  sendTimeoutMs: number
  requireVerifiedEmail: boolean
  /** Seconds a verification (or email-change) link lives. */
  verifyTtl: number
  /** Seconds a password-reset link lives. */
  resetTtl: number
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

/** Requests allowed per window and key, for each rate-limited operation (DESIGN §7). */
export interface RateLimits {
  windowSeconds: number
  register: { perIp: number; perAccount: number }
  login: { perIp: number; perAccount: number }
  refresh: { perIp: number; perToken: number }
  passwordChange: { perIp: number; perAccount: number }
  /** Mail-sending routes (forgot, resend, email change): their own, longer window. */
  mail: { windowSeconds: number; perAddress: number; perIp: number }
}

export class ConfigError extends Error {
  readonly issues: string[]
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`)
    this.name = 'ConfigError'
    this.issues = issues
  }
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '::0'])

/** http://HOST:PORT, with loopback for a wildcard HOST (a client cannot connect to 0.0.0.0). */
function derivedPublicUrl(host: string, port: number): string {
  const reachable = WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host
  return `http://${isIP(reachable) === 6 ? `[${reachable}]` : reachable}:${port}`
}

// Never printed in a configuration error: URLs may carry a password, and keys are secrets.
const URL_VARIABLES = new Set(['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'DATA_ENCRYPTION_KEY', 'DATA_ENCRYPTION_PREVIOUS_KEYS'])

/** Validates the environment; pure, so tests pass any object. Throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = EnvSchema.safeParse(present)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment')
        // URLs may carry a password: name them, never print them.
        const shown = URL_VARIABLES.has(name) ? '<not shown>' : JSON.stringify(present[name] ?? '')
        return `${name}=${shown}: ${issue.message}`
      }),
    )
  }
  const e = parsed.data
  const publicUrl = e.PUBLIC_URL ?? derivedPublicUrl(e.HOST, e.PORT)
  if (e.REFRESH_IDLE_TTL > e.REFRESH_ABSOLUTE_TTL) {
    throw new ConfigError([`REFRESH_IDLE_TTL=${e.REFRESH_IDLE_TTL}: must not exceed REFRESH_ABSOLUTE_TTL (${e.REFRESH_ABSOLUTE_TTL})`])
  }
  // Node refuses to start a server whose headers timeout exceeds its request timeout.
  if (e.HEADERS_TIMEOUT > e.REQUEST_TIMEOUT) {
    throw new ConfigError([`HEADERS_TIMEOUT=${e.HEADERS_TIMEOUT / 1000}: must not exceed REQUEST_TIMEOUT (${e.REQUEST_TIMEOUT / 1000})`])
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    throw new ConfigError([`METRICS_PORT=${e.METRICS_PORT}: the metrics listener needs a port of its own; PORT is ${e.PORT} too`])
  }
  if (e.ACR_SINGLE_FACTOR === e.ACR_MULTI_FACTOR) {
    throw new ConfigError([`ACR_MULTI_FACTOR=${JSON.stringify(e.ACR_MULTI_FACTOR)}: must differ from ACR_SINGLE_FACTOR, or step-up could never tell them apart`])
  }
  if (e.WORKERS !== 1 && e.DATABASE_URL === 'sqlite::memory:') {
    throw new ConfigError([`WORKERS=${e.WORKERS}: each worker would get its own empty in-memory database; use a sqlite file or postgres`])
  }
  const webauthn = webauthnConfig(e, publicUrl)
  return {
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databaseSchema: e.DATABASE_SCHEMA,
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    keysDir: e.KEYS_DIR,
    publicUrl,
    publicUrlDerived: e.PUBLIC_URL === undefined,
    issuer: e.ISSUER ?? publicUrl,
    audience: e.AUDIENCE,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    clockTolerance: e.CLOCK_TOLERANCE,
    refreshIdleTtl: e.REFRESH_IDLE_TTL,
    refreshAbsoluteTtl: e.REFRESH_ABSOLUTE_TTL,
    refreshGracePeriod: e.REFRESH_GRACE_PERIOD,
    jwksMaxAge: e.JWKS_MAX_AGE,
    keysReloadInterval: e.KEYS_RELOAD_INTERVAL,
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
    corsOrigins: e.CORS_ORIGINS,
    corsMaxAge: e.CORS_MAX_AGE,
    refreshCookie: {
      name: e.REFRESH_COOKIE_NAME,
      domain: e.REFRESH_COOKIE_DOMAIN,
      path: e.REFRESH_COOKIE_PATH,
      maxAge: e.REFRESH_COOKIE_MAX_AGE,
    },
    rateLimitEnabled: e.RATE_LIMIT_ENABLED,
    rateLimits: {
      windowSeconds: e.RATE_LIMIT_WINDOW,
      register: { perIp: e.RATE_LIMIT_REGISTER_PER_IP, perAccount: e.RATE_LIMIT_REGISTER_PER_ACCOUNT },
      login: { perIp: e.RATE_LIMIT_LOGIN_PER_IP, perAccount: e.RATE_LIMIT_LOGIN_PER_ACCOUNT },
      refresh: { perIp: e.RATE_LIMIT_REFRESH_PER_IP, perToken: e.RATE_LIMIT_REFRESH_PER_TOKEN },
      passwordChange: { perIp: e.RATE_LIMIT_PASSWORD_PER_IP, perAccount: e.RATE_LIMIT_PASSWORD_PER_ACCOUNT },
      mail: { windowSeconds: e.RATE_LIMIT_MAIL_WINDOW, perAddress: e.RATE_LIMIT_MAIL_PER_ADDRESS, perIp: e.RATE_LIMIT_MAIL_PER_IP },
    },
    argon2: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency: e.ARGON2_CONCURRENCY,
      queueLimit: e.ARGON2_QUEUE_LIMIT,
    },
    threadPoolNice: e.THREAD_POOL_NICE,
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
    tokenCache: { ttlMs: e.TOKEN_CACHE_TTL * 1000, maxEntries: e.TOKEN_CACHE_MAX_ENTRIES },
    workers: e.WORKERS,
    clientIds: e.CLIENT_IDS,
    dpop: { mode: e.DPOP, proofMaxAge: e.DPOP_PROOF_MAX_AGE, nonceLifetime: e.DPOP_NONCE ? e.DPOP_NONCE_LIFETIME : undefined },
    mail: {
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM ?? `Latchkey <no-reply@${isIP(new URL(publicUrl).hostname.replace(/^\[|\]$/g, '')) ? 'localhost' : new URL(publicUrl).hostname}>`,
      dir: e.MAIL_DIR,
      templatesDir: e.MAIL_TEMPLATES_DIR,
      linkBaseUrl: e.MAIL_LINK_BASE_URL ?? publicUrl,
      sendTimeoutMs: e.MAIL_SEND_TIMEOUT * 1000,
      requireVerifiedEmail: e.REQUIRE_VERIFIED_EMAIL,
      verifyTtl: e.EMAIL_VERIFY_TTL,
      resetTtl: e.PASSWORD_RESET_TTL,
    },
    webauthn,
    assurance: { singleFactorAcr: e.ACR_SINGLE_FACTOR, multiFactorAcr: e.ACR_MULTI_FACTOR, stepUpMaxAge: e.STEP_UP_MAX_AGE },
    mfa: {
      totpIssuer: e.TOTP_ISSUER,
      challengeTtl: e.MFA_CHALLENGE_TTL,
      maxAttempts: e.MFA_MAX_ATTEMPTS,
      accountMaxFailures: e.MFA_ACCOUNT_MAX_FAILURES,
      accountFailureWindow: e.MFA_ACCOUNT_FAILURE_WINDOW,
    },
    dataEncryption: {
      current: e.DATA_ENCRYPTION_KEY === undefined ? undefined : (parseDataKey(e.DATA_ENCRYPTION_KEY) as Buffer),
      previous: (e.DATA_ENCRYPTION_PREVIOUS_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean).map((k) => parseDataKey(k) as Buffer),
    },
    retention: { sessionRetentionDays: e.RETENTION_DAYS, purgeIntervalMs: e.PURGE_INTERVAL_SECONDS * 1000, batchSize: e.PURGE_BATCH_SIZE },
  }
}

/**
 * A browser completes a ceremony only from an origin whose host is the RP id or under it. Listed
 * explicitly, any other origin is a mistake that stops the start; derived from PUBLIC_URL and
 * CORS_ORIGINS, origins on other hosts are just not passkey origins.
 */
function webauthnConfig(e: Env, publicUrl: string): Config['webauthn'] {
  const rpId = e.WEBAUTHN_RP_ID ?? new URL(publicUrl).hostname.replace(/^\[|\]$/g, '')
  const onRpId = (origin: string) => {
    const host = new URL(origin).hostname
    return host === rpId || host.endsWith(`.${rpId}`)
  }
  if (e.WEBAUTHN_ORIGINS) {
    const outside = e.WEBAUTHN_ORIGINS.filter((o) => !onRpId(o))
    if (outside.length > 0) {
      throw new ConfigError([`WEBAUTHN_ORIGINS: ${outside.join(', ')} is not on the relying party id ${JSON.stringify(rpId)} or a subdomain of it (WEBAUTHN_RP_ID)`])
    }
  }
  const origins = e.WEBAUTHN_ORIGINS ?? [...new Set([new URL(publicUrl).origin, ...e.CORS_ORIGINS])].filter(onRpId)
  return { rpId, rpName: e.WEBAUTHN_RP_NAME, origins }
}
