import type { FastifyInstance } from 'fastify'

export interface RegisteredRoute {
  method: string
  url: string
  public: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered so far, with its public flag: the secure-by-default test walks it. */
    registeredRoutes(): RegisteredRoute[]
  }
}
import fp from 'fastify-plugin'
import { AppError } from '../errors.ts'

/**
 * 404 for unknown paths, 405 (with Allow) for a known path with the wrong method. Fastify's router
 * answers both with its not-found handler, so the registered routes are kept here to tell them apart.
 * A handler may also send a request here (reply.callNotFound) when its route matched but the thing
 * asked for does not exist, as the API reference does for files under /docs/: that is a 404.
 */
export const notFoundPlugin = fp(
  async function notFound(app: FastifyInstance) {
    const routes: Array<{ pattern: RegExp; methods: Set<string> }> = []
    // Route options are read when asked, not when added: plugins' own onRoute hooks may still set config.
    const catalog: Array<{ method: string; route: { url: string; config?: { public?: boolean } } }> = []
    app.decorate('registeredRoutes', () => catalog.map(({ method, route }) => ({ method, url: route.url.replace(/(.)\/$/, '$1'), public: route.config?.public === true })))
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) catalog.push({ method, route })
      // A catch-all (@fastify/cors's `OPTIONS *` for preflights) says nothing about which paths
      // exist: counted, every unknown path would be a 405 "Allow: OPTIONS" instead of a 404.
      if (route.url === '*' || route.url === '/*') return
      // Parameters match one segment, a trailing wildcard anything.
      const source = `^${route.url
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/:[A-Za-z0-9_]+/g, '[^/]+')
        .replace(/\\\*$/, '.*')}$`
      let entry = routes.find((r) => r.pattern.source === source)
      if (!entry) {
        entry = { pattern: new RegExp(source), methods: new Set() }
        routes.push(entry)
      }
      for (const m of [route.method].flat()) entry.methods.add(m)
    })

    app.setNotFoundHandler(async function handleNotFound(request) {
      const path = request.url.split('?')[0] ?? '/'
      const allowed = new Set<string>()
      for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m)
      // A path that a route of this very method covers (a wildcard's) names a missing resource: 404.
      if (allowed.size > 0 && !allowed.has(request.method)) {
        throw new AppError('method_not_allowed', `${request.method} is not allowed here`, {
          headers: { allow: [...allowed].sort().join(', ') },
        })
      }
      throw new AppError('not_found', 'no such resource')
    })
  },
  { name: 'latchkey-not-found', fastify: '5.x' },
)
