import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
// In your own service: `npm install @latchkey/verifier` and the same import (docs/verifier.md).
import { latchkeyVerifier, type VerifierOptions } from '@latchkey/verifier'

/**
 * A resource server: it never talks to Latchkey per request. It verifies access tokens locally
 * with the keys from Latchkey's JWKS, exactly as Latchkey's own routes do.
 */
export async function buildResourceServer(verifier: VerifierOptions, fastify: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(fastify)
  await app.register(latchkeyVerifier, verifier)

  // Public: marked explicitly; every other route needs a valid access token.
  app.get('/health', { config: { public: true } }, async () => ({ status: 'ok', keys: app.latchkeyKeys.keys.size }))

  // Protected: request.auth holds the verified claims.
  app.get('/orders', async (request) => ({ owner: request.auth!.sub, orders: [] }))

  // Protected and scoped: a token without `admin` gets 403 insufficient_scope.
  app.get('/reports', { config: { scopes: ['admin'] } }, async () => ({ reports: [] }))

  // Protected with step-up (RFC 9470): only a token from a sign-in with a second factor (acr aal2)
  // in the last five minutes passes; any other gets 401 insufficient_user_authentication with
  // `acr_values="aal2", max_age=300`, and the client signs in again (POST /auth/step-up) and retries.
  app.post('/payouts', { config: { stepUp: { acr: 'aal2', maxAge: 300 } } }, async (request) => ({ owner: request.auth!.sub, acr: request.auth!.acr, status: 'queued' }))

  return app
}
