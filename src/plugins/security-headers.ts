import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Helmet's policy for a JSON API — the headers OWASP's REST Security Cheat Sheet lists for API
 * responses: nothing here is meant to be rendered, framed or embedded, so the CSP forbids every
 * fetch and every framing, and referrers are never sent. Helmet's headers that only act on an HTML
 * document (COOP, Origin-Agent-Cluster, DNS prefetch, IE's download and XSS filters, Flash/PDF
 * cross-domain policies) are left to the one page Latchkey serves, the API reference: each header
 * costs every response its validation and bytes, and on JSON they do nothing.
 */
export const SECURITY_HEADERS_POLICY = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  // Browsers ignore HSTS over plain HTTP, so it is harmless on a developer's loopback.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
  // Verifiers in other origins fetch the JWKS with CORS, which CORP does not restrict.
  crossOriginResourcePolicy: { policy: 'same-origin' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
} satisfies HelmetOptions

/** The document-only headers helmet adds for an HTML page, for routes that serve one (with their own CSP). */
export const DOCUMENT_POLICY = {
  contentSecurityPolicy: false,
  xFrameOptions: false,
  referrerPolicy: false,
  strictTransportSecurity: false,
  crossOriginResourcePolicy: false,
  xContentTypeOptions: false,
} satisfies HelmetOptions

/**
 * The headers helmet sets for this policy, computed once by running helmet itself against a
 * recording response. The policy is the same for every response, so running helmet's middleware
 * chain (a dozen functions, CSP re-serialised) on each request would be pure overhead.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = headersOf(SECURITY_HEADERS_POLICY)

/** What DOCUMENT_POLICY adds, once computed. */
export const DOCUMENT_HEADERS: Readonly<Record<string, string>> = headersOf(DOCUMENT_POLICY)

function headersOf(policy: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(policy)({} as never, recorder as never, () => {})
  return Object.freeze(headers)
}

/**
 * What every response starts with: the security headers, its request id, and no-store (a route
 * that may be cached — the JWKS, the docs — replaces cache-control itself). Applied in onRequest, and
 * directly for replies made outside the hook chain (Fastify's framework errors).
 */
export function applyResponseDefaults(request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SECURITY_HEADERS)
  reply.header('x-request-id', request.id)
  reply.header('cache-control', 'no-store')
}

export const securityHeadersPlugin = fp(
  async function securityHeaders(app: FastifyInstance) {
    // onRequest, so that refusals from any later hook carry them too; set here rather than in an
    // onSend hook, which would cost every response one more hook.
    app.addHook('onRequest', function setResponseDefaults(request, reply, done: HookHandlerDoneFunction) {
      applyResponseDefaults(request, reply)
      done()
    })
  },
  { name: 'latchkey-security-headers', fastify: '5.x' },
)
