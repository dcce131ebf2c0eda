import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { EmailVerification } from '../accounts/email-verification.ts'
import type { RequestEmailChange } from '../accounts/email-change.ts'
import type { PasswordReset } from '../accounts/password-reset.ts'
import { MAX_PASSWORD_BYTES, normalizeEmail } from '../accounts/password-policy.ts'
import { parse, requestContext } from './parse.ts'

const email = z.string().max(320).transform(normalizeEmail).pipe(z.email({ message: 'must be an email address' }))
const linkToken = z.string().min(1).max(256)
const password = z.string().max(MAX_PASSWORD_BYTES * 4)

const VerifyBody = z.strictObject({ token: linkToken })
const ForgotBody = z.strictObject({ email })
// The policy (length in bytes, common passwords) is applied by the service: a 422, not a 400.
const ResetBody = z.strictObject({ token: linkToken, password })
const ChangeEmailBody = z.strictObject({ current_password: z.string().min(1).max(MAX_PASSWORD_BYTES * 4), new_email: email })

export interface AccountMailRoutesOptions {
  verification: EmailVerification
  reset: PasswordReset
  requestEmailChange: RequestEmailChange
}

/**
 * The flows that work through a mailed link (issue 17): email verification, forgot / reset
 * password, email change. Thin: parse → call → reply; the services queue the mail.
 */
export async function accountMailRoutes(app: FastifyInstance, { verification, reset, requestEmailChange }: AccountMailRoutesOptions) {
  app.post('/auth/email/verify', { config: { public: true, rateLimitPolicy: 'link_token' } }, async (request) => {
    const body = parse(VerifyBody, request.body)
    const user = await verification.verify(body.token, requestContext(request))
    return { email: user.email, email_verified: user.emailVerified }
  })

  app.post('/auth/password/forgot', { config: { public: true, rateLimitPolicy: 'mail_public' } }, async (request, reply) => {
    const body = parse(ForgotBody, request.body)
    reset.forgot(body.email, requestContext(request))
    return reply.code(202).send()
  })

  app.post('/auth/password/reset', { config: { public: true, rateLimitPolicy: 'link_token' } }, async (request, reply) => {
    const body = parse(ResetBody, request.body)
    await reset.reset(body.token, body.password, requestContext(request))
    return reply.code(204).send()
  })

  app.post('/me/email/verify/resend', { config: { rateLimitPolicy: 'mail_account' } }, async (request, reply) => {
    await verification.resend(request.auth!.sub, requestContext(request))
    return reply.code(202).send()
  })

  // Revocation-checked like PUT /me/password: a signed-out session must not move the account.
  app.put('/me/email', { config: { revocationCheck: true, rateLimitPolicy: 'mail_account' } }, async (request, reply) => {
    const body = parse(ChangeEmailBody, request.body)
    await requestEmailChange(request.auth!.sub, body.current_password, body.new_email, requestContext(request))
    return reply.code(202).send()
  })
}
