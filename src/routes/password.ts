import type { StepUpPolicy } from '@latchkey/verifier'
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
  /** Step-up policy: how recent the sign-in behind the token must be (STEP_UP_MAX_AGE). */
  recentSignIn?: StepUpPolicy
}

/** PUT /me/password: revocation-checked and rate-limited, since a stolen access token could guess with it. */
export async function passwordRoutes(app: FastifyInstance, { changePassword, recentSignIn }: PasswordRoutesOptions) {
  // Rate-limited per IP and per account: a stolen access token must not become a password oracle.
  // A recent sign-in too: a token refreshed for weeks on an unattended device cannot take the account over.
  const config = { revocationCheck: true, rateLimitPolicy: 'password_change', ...(recentSignIn ? { stepUp: recentSignIn } : {}) } as const

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
