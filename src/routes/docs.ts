import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { DOCUMENT_HEADERS } from '../plugins/security-headers.ts'

const SWAGGER_UI_RUNTIME_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"

export interface DocsRoutesOptions {
  openapiYaml: string
  /** Where clients reach this deployment: the page's "Try it out" calls go there. */
  publicUrl: string
}

/** Request headers Swagger UI's assets may use (content negotiation, revalidation); nothing else is passed. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'accept-encoding', 'accept-language', 'if-none-match', 'if-modified-since', 'range', 'if-range']
/** Connection-level response headers: this app's own server sets them. */
const UNFORWARDED_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'date', 'transfer-encoding', 'content-length'])

/**
 * Swagger UI and the parsed document, in a Fastify app of their own. Built on the first request for
 * the reference page: its modules (the YAML parser, @fastify/swagger, @fastify/swagger-ui and its
 * static file server), the parsed document and its asset routes hold ~10 MB, which an instance that
 * nobody browses should not keep.
 */
async function buildReferenceApp(openapiYaml: string, publicUrl: string): Promise<FastifyInstance> {
  const [{ default: swagger }, { default: swaggerUi }, { parse }] = await Promise.all([
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
    import('yaml'),
  ])
  const reference = Fastify({ logger: false })
  // The committed document names `npm start`'s address; the page calls this deployment instead.
  const document = { ...parse(openapiYaml), servers: [{ url: publicUrl, description: 'this deployment (PUBLIC_URL)' }] }
  await reference.register(swagger, { mode: 'static', specification: { document } })
  await reference.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
    // Swagger UI's own strict policy (hashed inline script, same-origin assets), minus
    // upgrade-insecure-requests, which would break the page on http://127.0.0.1.
    staticCSP: true,
    transformStaticCSP: (header) =>
      header
        .replace(/\s*upgrade-insecure-requests;?/, '')
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        // the one <style> element Swagger UI inserts at run time, allowed by its hash (checked in Chromium by the tests)
        .replace("style-src 'self' https:", `style-src 'self' https: ${SWAGGER_UI_RUNTIME_STYLE}`)
        // "Try it out" calls PUBLIC_URL, which a proxy may serve on another origin than the page's.
        .replace("default-src 'self';", `default-src 'self'; connect-src 'self' ${new URL(publicUrl).origin};`)
        .trim(),
  })
  await reference.ready()
  return reference
}

/**
 * GET /openapi.yaml (the contract, as committed) and GET /docs (Swagger UI, bundled with the
 * plugin: no CDN, works offline). Everything here is public documentation.
 */
export async function docsRoutes(app: FastifyInstance, { openapiYaml, publicUrl }: DocsRoutesOptions) {
  // Routes registered in this plugin, including Swagger UI's assets, need no token.
  app.addHook('onRoute', (route) => {
    // Mutated, not replaced: the verification plugin holds this object and reads it per request.
    if (route.config) route.config.public = true
    else route.config = { public: true }
  })

  app.get('/openapi.yaml', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300')
    return reply.type('application/yaml; charset=utf-8').send(openapiYaml)
  })

  // GET (and HEAD) /docs and everything under it — Swagger UI's page and assets, /docs/json,
  // /docs/yaml — is answered by the reference app, built on first use. It is passed the URL and the
  // content-negotiation headers only, never credentials; what it does not have is this app's 404.
  let reference: Promise<FastifyInstance> | undefined
  async function serveReference(request: FastifyRequest, reply: FastifyReply) {
    reference ??= buildReferenceApp(openapiYaml, publicUrl).catch((err: unknown) => {
      reference = undefined // built again on the next request
      throw err
    })
    const headers: Record<string, string> = {}
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers[name]
      if (typeof value === 'string') headers[name] = value
    }
    const res = await (await reference).inject({ method: 'GET', url: request.url, headers })
    if (res.statusCode === 404) return reply.callNotFound()
    if (res.statusCode >= 500) throw new Error(`the API reference answered ${res.statusCode}`)
    // A document: helmet's document-only headers on top of the app-wide ones (its CSP is Swagger UI's).
    reply.headers(DOCUMENT_HEADERS)
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined && !UNFORWARDED_RESPONSE_HEADERS.has(name)) reply.header(name, value)
    }
    return reply.code(res.statusCode).send(res.rawPayload)
  }
  app.get('/docs', serveReference)
  app.get('/docs/*', serveReference)
  app.addHook('onClose', async () => {
    const built = await reference?.catch(() => undefined)
    await built?.close()
  })

  // The security headers come from the app-wide plugin; only caching differs for documentation.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 && reply.getHeader('cache-control') === 'no-store') reply.header('cache-control', 'public, max-age=300')
    return payload
  })
}
