import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, HookHandlerDoneFunction } from 'fastify'
import { parse } from 'yaml'
import { DOCUMENT_HEADERS } from '../plugins/security-headers.ts'

const SWAGGER_UI_RUNTIME_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"

export interface DocsRoutesOptions {
  openapiYaml: string
}

/**
 * GET /openapi.yaml (the contract, as committed) and GET /docs (Swagger UI, bundled with the
 * plugin: no CDN, works offline). Everything here is public documentation.
 */
export async function docsRoutes(app: FastifyInstance, { openapiYaml }: DocsRoutesOptions) {
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

  await app.register(swagger, { mode: 'static', specification: { document: parse(openapiYaml) } })
  await app.register(swaggerUi, {
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
        .trim(),
  })
  // An HTML page: helmet's document-only headers on top of the app-wide ones (its CSP is Swagger UI's).
  app.addHook('onRequest', function setDocumentHeaders(request, reply, done: HookHandlerDoneFunction) {
    if (request.routeOptions.url?.startsWith('/docs')) reply.headers(DOCUMENT_HEADERS)
    done()
  })
  // The security headers come from the app-wide plugin; only caching differs for documentation.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 && reply.getHeader('cache-control') === 'no-store') reply.header('cache-control', 'public, max-age=300')
    return payload
  })
}
