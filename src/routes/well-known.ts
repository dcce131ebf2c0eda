import type { FastifyInstance } from 'fastify'
import type { KeyRing } from '../keys/key-ring.ts'

export interface WellKnownRoutesOptions {
  keys: KeyRing
  /** Seconds verifiers may cache the key set; never longer than a key spends as `next`. */
  jwksMaxAge: number
}

export async function wellKnownRoutes(app: FastifyInstance, { keys, jwksMaxAge }: WellKnownRoutesOptions) {
  app.get('/.well-known/jwks.json', { config: { public: true } }, async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${jwksMaxAge}`)
    return keys.current.jwks
  })
}
