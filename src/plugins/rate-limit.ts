import { createHash } from 'node:crypto'
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { normalizeEmail } from '../accounts/password-policy.ts'
import type { RateLimits } from '../config.ts'
import { AppError } from '../errors.ts'
import { hashRefreshToken } from '../tokens/refresh-token.ts'
import { createLimitStore } from './rate-limit-store.ts'

export type RateLimitPolicyName = 'register' | 'login' | 'refresh' | 'password_change' | 'mail_public' | 'mail_account' | 'link_token'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Counts each request to the route against the named policy (per IP, and per account or token)
     * and answers 429 `rate_limited` with Retry-After beyond it. E.g. `config: { rateLimitPolicy: 'password_change' }`.
     */
    rateLimitPolicy?: RateLimitPolicyName
  }
}

export interface RateLimitPluginOptions {
  limits: RateLimits
  /** Shares the counts between instances; without it they live in this process. */
  redis?: Redis
  /** The refresh cookie's name: cookie-mode refreshes are limited per token too. */
  refreshCookieName?: string
}

/** One limit of a policy: a name, a maximum per window, and the key it counts by (undefined = not counted). */
interface Dimension {
  name: string
  max: number
  /** Overrides the policy window (the mail limits count per hour, not per minute). */
  windowMs?: number
  key: (request: FastifyRequest) => string | undefined
}

// Emails and tokens are hashed into keys, so Redis never holds an address or a credential.
const digest = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 32)

function bodyField(request: FastifyRequest, field: string): string | undefined {
  const body = request.body as Record<string, unknown> | null | undefined
  const value = body && typeof body === 'object' ? body[field] : undefined
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

const perIp = (max: number): Dimension => ({ name: 'ip', max, key: (r) => normalizeIP(r.ip) })
const perEmail = (max: number, field = 'email', name = 'account'): Dimension => ({
  name,
  max,
  key: (r) => {
    const email = bodyField(r, field)
    return email === undefined ? undefined : digest(normalizeEmail(email))
  },
})

function policiesOf(limits: RateLimits, refreshCookieName?: string): Record<RateLimitPolicyName, Dimension[]> {
  return {
    register: [perIp(limits.register.perIp), perEmail(limits.register.perAccount)],
    login: [perIp(limits.login.perIp), perEmail(limits.login.perAccount)],
    refresh: [
      perIp(limits.refresh.perIp),
      {
        name: 'token',
        max: limits.refresh.perToken,
        key: (r) => {
          const token = bodyField(r, 'refresh_token') ?? (refreshCookieName ? r.cookies?.[refreshCookieName] : undefined)
          return token === undefined ? undefined : hashRefreshToken(token)
        },
      },
    ],
    // Runs after authentication, so the account is the verified subject.
    password_change: [perIp(limits.passwordChange.perIp), { name: 'account', max: limits.passwordChange.perAccount, key: (r) => r.auth?.sub }],
    // Routes that mail someone: per IP and per address mailed, over the (hourly) mail window, so
    // none of them can be turned into a mail bomb. Public: forgot, reset (argon2 per call).
    mail_public: mailLimits(limits, [perIp(limits.mail.perIp), perEmail(limits.mail.perAddress, 'email', 'address')]),
    // Presenting a link token: each try may cost an argon2 hash (reset) and an audit row.
    link_token: [perIp(limits.login.perIp)],
    // Signed in: resend, email change (per account, and per new address asked for).
    mail_account: mailLimits(limits, [
      perIp(limits.mail.perIp),
      { name: 'account', max: limits.mail.perAddress, key: (r) => r.auth?.sub },
      perEmail(limits.mail.perAddress, 'new_email', 'address'),
    ]),
  }
}

function mailLimits(limits: RateLimits, dimensions: Dimension[]): Dimension[] {
  return dimensions.map((d) => ({ ...d, windowMs: limits.mail.windowSeconds * 1000 }))
}

/**
 * Rate limits per IP and per account (DESIGN §7) on routes that name a policy in their config.
 * Built on @fastify/rate-limit's counters and stores; the hook checks every dimension of the
 * policy (the plugin's own route hook runs once per request, which cannot express "per IP and per
 * account") and answers with our problem shape and Retry-After.
 */
export const rateLimitPlugin = fp(
  async function rateLimit(app: FastifyInstance, options: RateLimitPluginOptions) {
    let lastRedisErrorLog = 0
    await app.register(fastifyRateLimit, {
      global: false,
      store: createLimitStore({
        redis: options.redis,
        onRedisError: (err) => {
          // One line per 30 s is enough to page someone; one per request would flood the logs.
          if (Date.now() - lastRedisErrorLog < 30_000) return
          lastRedisErrorLog = Date.now()
          app.log.error({ reason: err.message }, 'rate limiting: Redis unavailable, counting per process')
        },
      }),
    })

    const timeWindow = options.limits.windowSeconds * 1000
    const hooks = new Map<RateLimitPolicyName, (request: FastifyRequest) => Promise<void>>()
    for (const [policy, dimensions] of Object.entries(policiesOf(options.limits, options.refreshCookieName)) as Array<[RateLimitPolicyName, Dimension[]]>) {
      const counters = dimensions.map((dimension) =>
        app.createRateLimit({
          max: dimension.max,
          timeWindow: dimension.windowMs ?? timeWindow,
          keyGenerator: (request) => {
            const key = dimension.key(request)
            return key === undefined ? '' : `${policy}:${dimension.name}:${key}`
          },
          // A request without the key (e.g. no email in the body) is refused by validation anyway.
          allowList: (_request, key) => key === '',
        }),
      )
      hooks.set(policy, async function enforceRateLimit(request) {
        const results = await Promise.all(counters.map((count) => count(request)))
        let retryAfter = 0
        for (const r of results) if (!r.isAllowed && r.isExceeded) retryAfter = Math.max(retryAfter, r.ttlInSeconds, 1)
        if (retryAfter === 0) return
        request.log.warn({ policy }, 'rate limit exceeded')
        throw new AppError('rate_limited', `too many requests; retry in ${retryAfter} s`, {
          headers: { 'retry-after': String(retryAfter) },
        })
      })
    }

    app.addHook('onRoute', (route: RouteOptions) => {
      const policy = route.config?.rateLimitPolicy
      if (policy === undefined) return
      const hook = hooks.get(policy)
      if (!hook) throw new Error(`unknown rateLimitPolicy ${policy} on ${route.method} ${route.url}`)
      // preHandler: the body is parsed (per-account keys) and the caller authenticated.
      route.preHandler = [...[route.preHandler ?? []].flat(), hook] as RouteOptions['preHandler']
    })
  },
  { name: 'latchkey-rate-limit', fastify: '5.x' },
)
