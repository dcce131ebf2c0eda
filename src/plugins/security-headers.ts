import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Helmet's policy for a JSON API: nothing here is meant to be rendered, framed or embedded, so the
 * CSP forbids every fetch and every framing, and referrers are never sent. A route that serves a
 * page (the API reference) sets its own Content-Security-Policy, which replaces this one.
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

/**
 * The headers helmet sets for this policy, computed once by running helmet itself against a
 * recording response. The policy is the same for every response, so running helmet's middleware
 * chain (a dozen functions, CSP re-serialised) on each request would be pure overhead.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = (() => {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(SECURITY_HEADERS_POLICY)({} as never, recorder as never, () => {})
  return Object.freeze(headers)
})()

/** The same headers for replies made outside the hook chain (Fastify's framework errors). */
export function applySecurityHeaders(_request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS)
}

export const securityHeadersPlugin = fp(
  async function securityHeaders(app: FastifyInstance) {
    // onRequest, so that refusals from any later hook carry them too.
    app.addHook('onRequest', function setSecurityHeaders(_request, reply, done: HookHandlerDoneFunction) {
      reply.headers(SECURITY_HEADERS)
      done()
    })
  },
  { name: 'latchkey-security-headers', fastify: '5.x' },
)
