import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { AuthService } from '../accounts/auth-service.ts'
import { MAX_PASSWORD_BYTES, normalizeEmail } from '../accounts/password-policy.ts'
import { parse, requestContext } from './parse.ts'

const Credentials = z.strictObject({
  email: z.string().trim().min(3).max(320),
  password: z.string().min(1).max(MAX_PASSWORD_BYTES * 4),
})
const RegisterBody = Credentials.extend({
  email: z.string().max(320).transform(normalizeEmail).pipe(z.email({ message: 'must be an email address' })),
})
const RefreshBody = z.strictObject({ refresh_token: z.string().min(1).max(512) })

export interface AuthRoutesOptions {
  auth: AuthService
}

/** POST /auth/register, /auth/login, /auth/refresh, /auth/logout — public, thin: parse → call → reply. */
export async function authRoutes(app: FastifyInstance, { auth }: AuthRoutesOptions) {
  const config = { public: true } as const

  app.post('/auth/register', { config }, async (request, reply) => {
    const body = parse(RegisterBody, request.body)
    const tokens = await auth.register(body.email, body.password, requestContext(request))
    return reply.code(201).send(tokens)
  })

  app.post('/auth/login', { config }, async (request) => {
    const body = parse(Credentials, request.body)
    return auth.login(body.email, body.password, requestContext(request))
  })

  app.post('/auth/refresh', { config }, async (request) => {
    const body = parse(RefreshBody, request.body)
    return auth.refresh(body.refresh_token, requestContext(request))
  })

  app.post('/auth/logout', { config }, async (request, reply) => {
    const body = parse(RefreshBody, request.body)
    await auth.logout(body.refresh_token, requestContext(request))
    return reply.code(204).send()
  })
}
