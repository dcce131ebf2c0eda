import type { FastifyInstance } from 'fastify'
import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'

export interface MeRoutesOptions {
  store: Store
}

export async function meRoutes(app: FastifyInstance, { store }: MeRoutesOptions) {
  app.get('/me', async (request) => {
    const claims = request.auth!
    const user = await store.findUserById(claims.sub)
    if (!user) throw new AppError('not_found', 'the account no longer exists')
    return { id: user.id, email: user.email, email_verified: user.emailVerified, created_at: new Date(user.createdAt).toISOString(), scope: user.scope }
  })

  // The stateless path: the verified claims, with no store access at all.
  app.get('/me/claims', async (request) => request.auth)
}
