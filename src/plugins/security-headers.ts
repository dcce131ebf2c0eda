import fastifyHelmet from '@fastify/helmet'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Helmet's policy for a JSON API: nothing here is meant to be rendered, framed or embedded, so the
 * CSP forbids every fetch and every framing, and referrers are never sent. A route that serves a
 * page (an API reference, say) loosens it with its own `helmet` route option.
 */
export const SECURITY_HEADERS_POLICY = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  // Browsers ignore HSTS over plain HTTP, so it is harmless on a developer's loopback.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  // Verifiers in other origins fetch the JWKS with CORS, which CORP does not restrict.
  crossOriginResourcePolicy: { policy: 'same-origin' },
} satisfies HelmetOptions

const applyPolicy = helmet(SECURITY_HEADERS_POLICY)

/**
 * The same headers for replies made outside the hook chain (Fastify's framework errors, which run
 * no onRequest hook): one policy, applied by helmet itself.
 */
export function applySecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  applyPolicy(request.raw, reply.raw, () => {})
}

export const securityHeadersPlugin = fp(
  async function securityHeaders(app: FastifyInstance) {
    await app.register(fastifyHelmet, { global: true, ...SECURITY_HEADERS_POLICY })
  },
  { name: 'latchkey-security-headers', fastify: '5.x' },
)
