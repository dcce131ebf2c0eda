import fastifyCors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { REFRESH_MODE_HEADER } from './csrf.ts'

export interface CorsOptions {
  /** Exact allowed origins; empty means no cross-origin access at all. */
  origins: readonly string[]
  /** Seconds a browser may cache a preflight answer (Chromium caps it at 7200). */
  maxAge: number
}

/**
 * Cross-origin access for browser clients: only the configured origins, with credentials so the
 * refresh cookie travels. Registered before authentication so preflights (which carry no
 * Authorization header) are answered, and so a 401 still has the headers a page needs to read it.
 */
export const corsPlugin = fp(
  async function cors(app: FastifyInstance, options: CorsOptions) {
    await app.register(fastifyCors, {
      origin: [...options.origins],
      credentials: true,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'DPoP', REFRESH_MODE_HEADER],
      exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'X-Request-Id', 'DPoP-Nonce'],
      maxAge: options.maxAge,
      // Strict mode answers a plain OPTIONS (no Origin) with a text/plain 400, breaking the rule that
      // every error is a problem document; a bare 204 is an honest answer to OPTIONS and grants nothing.
      strictPreflight: false,
    })
  },
  { name: 'latchkey-cors', fastify: '5.x' },
)
