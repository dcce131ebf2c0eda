import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface SecurityHeadersOptions {
  /** Strict-Transport-Security max-age in seconds; browsers ignore it over plain HTTP. */
  hstsMaxAge?: number
}

/**
 * Helmet with a policy for a JSON API: nothing here is meant to be rendered, framed or embedded, so
 * the CSP forbids every fetch and every framing, and referrers are never sent. A route that serves
 * a page (an API reference, say) loosens it with its own `helmet` route option.
 */
export const securityHeadersPlugin = fp(
  async function securityHeaders(app: FastifyInstance, options: SecurityHeadersOptions) {
    await app.register(helmet, {
      global: true,
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: { maxAge: options.hstsMaxAge ?? 31_536_000, includeSubDomains: true },
      // Verifiers in other origins fetch the JWKS with CORS, which CORP does not block.
      crossOriginResourcePolicy: { policy: 'same-origin' },
    })
  },
  { name: 'latchkey-security-headers', fastify: '5.x' },
)
