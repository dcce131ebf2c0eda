import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { ChangePassword } from '../accounts/password-change.ts'
import { MAX_PASSWORD_BYTES } from '../accounts/password-policy.ts'
import { parse, requestContext } from './parse.ts'

const ChangePasswordBody = z.strictObject({
  current_password: z.string().min(1).max(MAX_PASSWORD_BYTES * 4),
  // The policy (length in bytes, common passwords) is applied by the service: a 422, not a 400.
  new_password: z.string().max(MAX_PASSWORD_BYTES * 4),
})

export interface PasswordRoutesOptions {
  changePassword: ChangePassword
}

/** PUT /me/password: revocation-checked and rate-limited, since a stolen access token could guess with it. */
export async function passwordRoutes(app: FastifyInstance, { changePassword }: PasswordRoutesOptions) {
  // A variable, not an inline literal: `rateLimit` is typed only once @fastify/rate-limit is registered,
  // and Fastify ignores config keys no plugin reads, so this is inert until then.
  const config = { revocationCheck: true, rateLimit: { max: 5, timeWindow: '1 minute' } }

  app.put('/me/password', { config }, async (request, reply) => {
    const body = parse(ChangePasswordBody, request.body)
    const { sub, sid } = request.auth!
    await changePassword(
      { userId: sub, sessionId: sid, currentPassword: body.current_password, newPassword: body.new_password },
      requestContext(request),
    )
    return reply.code(204).send()
  })
}
