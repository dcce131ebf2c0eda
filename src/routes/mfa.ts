import type { StepUpPolicy } from '@latchkey/verifier'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { FactorProof, MfaService } from '../accounts/mfa-service.ts'
import { MAX_PASSWORD_BYTES } from '../accounts/password-policy.ts'
import type { DpopBindingCheck } from './dpop-binding.ts'
import { AppError } from '../errors.ts'
import type { Store } from '../store/store.ts'
import { ClientId, parse, requestContext } from './parse.ts'
import type { RefreshDelivery } from './refresh-delivery.ts'

// Apps show codes as "123 456": spaces are dropped before the six digits are checked.
const TotpCode = z.string().max(16).transform((v) => v.replace(/\s/g, '')).pipe(z.string().regex(/^[0-9]{6}$/, { message: 'must be the 6-digit code' }))
const RecoveryCode = z.string().min(1).max(64)

const ConfirmBody = z.strictObject({ code: TotpCode })
const LoginMfaBody = z
  .strictObject({ challenge: z.string().min(1).max(128), code: TotpCode.optional(), recovery_code: RecoveryCode.optional(), client_id: ClientId })
  .refine((b) => (b.code === undefined) !== (b.recovery_code === undefined), { message: 'send either code or recovery_code', path: ['code'] })
const StepUpBody = z
  .strictObject({ password: z.string().min(1).max(MAX_PASSWORD_BYTES * 4).optional(), code: TotpCode.optional(), recovery_code: RecoveryCode.optional(), client_id: ClientId })
  .refine((b) => !(b.code !== undefined && b.recovery_code !== undefined), { message: 'send code or recovery_code, not both', path: ['code'] })
  .refine((b) => b.password !== undefined || b.code !== undefined || b.recovery_code !== undefined, { message: 'send password, code or recovery_code', path: ['password'] })

function proofOf(body: { code?: string | undefined; recovery_code?: string | undefined }): FactorProof | undefined {
  if (body.code !== undefined) return { code: body.code }
  if (body.recovery_code !== undefined) return { recoveryCode: body.recovery_code }
  return undefined
}

export interface MfaRoutesOptions {
  mfa: MfaService
  /** A recent sign-in (STEP_UP_MAX_AGE): to enrol a factor. */
  recentSignIn: StepUpPolicy
  /** A recent two-factor sign-in: to remove the factor. */
  recentStrongSignIn: StepUpPolicy
}

/** POST/DELETE /me/mfa/totp, POST /me/mfa/totp/confirm: the signed-in user's own factor. */
export async function mfaRoutes(app: FastifyInstance, { mfa, recentSignIn, recentStrongSignIn }: MfaRoutesOptions) {
  // Adding a factor to an account is taking control of its sign-in: only right after signing in.
  app.post('/me/mfa/totp', { config: { revocationCheck: true, stepUp: recentSignIn } }, async (request) => {
    return mfa.beginEnrolment(request.auth!.sub, requestContext(request))
  })

  // Code guesses count against the per-account limit of password-checking routes.
  app.post('/me/mfa/totp/confirm', { config: { revocationCheck: true, rateLimitPolicy: 'password_change' } }, async (request) => {
    const body = parse(ConfirmBody, request.body)
    return mfa.confirmEnrolment(request.auth!.sub, body.code, requestContext(request))
  })

  app.delete('/me/mfa/totp', { config: { revocationCheck: true, stepUp: recentStrongSignIn } }, async (request, reply) => {
    await mfa.removeFactors(request.auth!.sub, requestContext(request))
    return reply.code(204).send()
  })
}

export interface MfaSignInRoutesOptions {
  mfa: MfaService
  delivery: RefreshDelivery
  dpopBinding: DpopBindingCheck
}

/** POST /auth/login/mfa and POST /auth/step-up: they issue tokens, so they live beside the other sign-in routes (cookie mode, DPoP). */
export async function mfaSignInRoutes(app: FastifyInstance, { mfa, delivery, dpopBinding }: MfaSignInRoutesOptions) {
  app.post('/auth/login/mfa', { config: { public: true, tokenEndpoint: true, rateLimitPolicy: 'link_token' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(LoginMfaBody, request.body)
    const tokens = await mfa.completeLogin(body.challenge, proofOf(body)!, requestContext(request), await dpopBinding(request), body.client_id)
    return delivery.deliver(reply, tokens, mode)
  })

  app.post('/auth/step-up', { config: { revocationCheck: true, rateLimitPolicy: 'password_change' } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(StepUpBody, request.body)
    const proof = proofOf(body)
    const input = { ...(body.password === undefined ? {} : { password: body.password }), ...(proof ? { proof } : {}), ...(body.client_id === undefined ? {} : { clientId: body.client_id }) }
    // A protected route: a DPoP-bound token came with a proof of its key, checked (and spent) by the
    // authentication hook; the new session stays bound to that key. Checking the proof again here
    // would refuse it as a replay. A bearer token may still come with a proof that binds the new session.
    const jkt = request.auth!.cnf?.jkt
    const binding = jkt === undefined ? await dpopBinding(request) : { jkt }
    const tokens = await mfa.stepUp(request.auth!, input, requestContext(request), binding)
    return delivery.deliver(reply, tokens, mode)
  })
}

const UserParams = z.strictObject({ id: z.uuid({ message: 'must be a user id (UUID)' }) })

/** POST /admin/users/{id}/mfa/reset: an admin removes a user's second factor (a lost device); audited as mfa_reset. */
export async function mfaAdminRoutes(app: FastifyInstance, { mfa, store }: { mfa: MfaService; store: Store }) {
  app.post('/admin/users/:id/mfa/reset', { config: { scopes: ['admin'], revocationCheck: true } }, async (request) => {
    const { id } = parse(UserParams, request.params)
    if (!(await store.findUserById(id))) throw new AppError('not_found', 'no such user')
    const hadFactor = await mfa.removeFactors(id, requestContext(request), request.auth!.sub)
    return { user_id: id, had_factor: hadFactor }
  })
}
