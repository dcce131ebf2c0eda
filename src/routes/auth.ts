import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ClientMismatchError, type AuthService } from '../accounts/auth-service.ts'
import { MAX_PASSWORD_BYTES, normalizeEmail } from '../accounts/password-policy.ts'
import { AppError } from '../errors.ts'
import { ClientId, parse, requestContext } from './parse.ts'
import type { DpopBindingCheck } from './dpop-binding.ts'
import { missingRefreshToken, type RefreshDelivery } from './refresh-delivery.ts'

const Credentials = z.strictObject({
  email: z.string().trim().min(3).max(320),
  password: z.string().min(1).max(MAX_PASSWORD_BYTES * 4),
  client_id: ClientId,
})
const RegisterBody = Credentials.extend({
  email: z.string().max(320).transform(normalizeEmail).pipe(z.email({ message: 'must be an email address' })),
})
// Optional: in cookie mode the token comes from the cookie and the body may be empty.
const RefreshBody = z.strictObject({ refresh_token: z.string().min(1).max(512).optional(), client_id: ClientId })

export interface AuthRoutesOptions {
  auth: AuthService
  delivery: RefreshDelivery
  /** The DPoP key a request proves, if any: the tokens issued are then bound to it. */
  dpopBinding: DpopBindingCheck
}

/** POST /auth/register, /auth/login, /auth/refresh, /auth/logout — public, thin: parse → call → reply. */
export async function authRoutes(app: FastifyInstance, { auth, delivery, dpopBinding }: AuthRoutesOptions) {
  const config = { public: true } as const
  // RFC 9449 §5: a refused DPoP proof at these is a 400, not a resource's 401 challenge.
  const tokenEndpoint = { ...config, tokenEndpoint: true } as const

  app.post('/auth/register', { config: { ...tokenEndpoint, rateLimitPolicy: 'register' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(RegisterBody, request.body)
    const result = await auth.register(body.email, body.password, requestContext(request), await dpopBinding(request), body.client_id)
    if (!('tokens' in result)) return reply.code(202).send({ verification_required: true })
    return reply.code(201).send(delivery.deliver(reply, result.tokens, mode))
  })

  app.post('/auth/login', { config: { ...tokenEndpoint, rateLimitPolicy: 'login' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(Credentials, request.body)
    const result = await auth.login(body.email, body.password, requestContext(request), await dpopBinding(request), body.client_id)
    // A second factor is due: no tokens (and no cookie) until POST /auth/login/mfa.
    if ('mfa_required' in result) return result
    return delivery.deliver(reply, result, mode)
  })

  app.post('/auth/refresh', { config: { ...tokenEndpoint, rateLimitPolicy: 'refresh' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(RefreshBody, request.body)
    const token = await delivery.presentedToken(request, body.refresh_token, mode)
    if (token === undefined) throw missingRefreshToken(mode)
    // Outside the try: a bad proof says nothing about the session, so it must not drop the cookie.
    const binding = await dpopBinding(request)
    try {
      return delivery.deliver(reply, await auth.refresh(token, requestContext(request), binding, body.client_id), mode)
    } catch (err) {
      // A dead session's cookie is dropped; a transient failure (503) must not sign the user out.
      // A proof of the wrong key leaves the session as it was: the cookie stays too.
      if (err instanceof AppError && err.status === 401 && err.code !== 'invalid_dpop_proof' && !(err instanceof ClientMismatchError)) delivery.endCookie(reply, mode)
      throw err
    }
  })

  // Logout shares refresh's limits: unauthenticated, it could otherwise drive unbounded store and audit writes.
  app.post('/auth/logout', { config: { ...config, rateLimitPolicy: 'refresh' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(RefreshBody, request.body)
    const token = await delivery.presentedToken(request, body.refresh_token, mode)
    if (token === undefined && mode === 'body') throw missingRefreshToken(mode)
    if (token !== undefined) await auth.logout(token, requestContext(request))
    delivery.endCookie(reply, mode)
    return reply.code(204).send()
  })
}
