import type { StepUpPolicy } from '@latchkey/verifier'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import { AuthenticationResponseSchema, RegistrationResponseSchema } from '../passkeys/client-response.ts'
import type { PasskeyService } from '../passkeys/passkey-service.ts'
import type { Passkey } from '../store/passkeys.ts'
import type { Store } from '../store/store.ts'
import type { DpopBindingCheck } from './dpop-binding.ts'
import { ClientId, parse, requestContext } from './parse.ts'
import type { RefreshDelivery } from './refresh-delivery.ts'

const PasskeyName = z.string().trim().min(1, { message: 'must not be empty' }).max(64, { message: 'must be at most 64 characters' })
const MfaToken = z.string().min(1).max(128)
const LoginOptionsBody = z.strictObject({ email: z.string().trim().min(3).max(320).optional(), mfa_token: MfaToken.optional() })
const LoginVerifyBody = z.strictObject({ response: AuthenticationResponseSchema, mfa_token: MfaToken.optional(), client_id: ClientId })
const RegisterOptionsBody = z.strictObject({})
const RegisterVerifyBody = z.strictObject({ response: RegistrationResponseSchema, name: PasskeyName.optional() })
const RenameBody = z.strictObject({ name: PasskeyName })
const PasskeyParams = z.strictObject({ id: z.uuid({ message: 'must be a passkey id (UUID)' }) })

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

function passkeyJson(p: Passkey) {
  return {
    id: p.id,
    name: p.name,
    created_at: iso(p.createdAt),
    last_used_at: iso(p.lastUsedAt),
    transports: p.transports,
    backed_up: p.backedUp,
    device_type: p.deviceType === 'multiDevice' ? 'multi_device' : 'single_device',
    counter_regressed_at: iso(p.counterRegressedAt),
  }
}

export interface PasskeyAuthRoutesOptions {
  passkeys: PasskeyService
  delivery: RefreshDelivery
  dpopBinding: DpopBindingCheck
}

/** POST /auth/passkeys/login/options and /verify: public, rate-limited like /auth/login. */
export async function passkeyAuthRoutes(app: FastifyInstance, { passkeys, delivery, dpopBinding }: PasskeyAuthRoutesOptions) {
  const config = { public: true, rateLimitPolicy: 'login' } as const

  app.post('/auth/passkeys/login/options', { config }, async (request) => {
    const body = parse(LoginOptionsBody, request.body)
    return passkeys.authenticationOptions(body.email, body.mfa_token)
  })

  app.post('/auth/passkeys/login/verify', { config: { ...config, tokenEndpoint: true } }, async (request, reply) => {
    const mode = await delivery.requestedMode(request)
    const body = parse(LoginVerifyBody, request.body)
    const binding = await dpopBinding(request)
    const tokens = body.mfa_token === undefined
      ? await passkeys.authenticate(body.response, requestContext(request), binding, body.client_id)
      : await passkeys.completeMfa(body.mfa_token, body.response, requestContext(request), binding, body.client_id)
    return delivery.deliver(reply, tokens, mode)
  })
}

export interface PasskeyMeRoutesOptions {
  passkeys: PasskeyService
  store: Store
  /** Step-up policy for adding and deleting a passkey: how recent the sign-in behind the token must be (STEP_UP_MAX_AGE). */
  recentSignIn?: StepUpPolicy
}

/**
 * The signed-in user's own passkeys: register (two steps), list, rename, delete. Revocation-checked;
 * adding or deleting one wants a recent sign-in, so a token refreshed for weeks on an unattended
 * device cannot plant a passkey of its own or remove the owner's.
 */
export async function passkeyMeRoutes(app: FastifyInstance, { passkeys, store, recentSignIn }: PasskeyMeRoutesOptions) {
  const config = { revocationCheck: true } as const
  const sensitive = { ...config, ...(recentSignIn ? { stepUp: recentSignIn } : {}) }

  app.post('/me/passkeys/register/options', { config: sensitive }, async (request) => {
    parse(RegisterOptionsBody, request.body)
    const user = await store.findUserById(request.auth!.sub)
    if (!user) throw new AppError('invalid_token', 'the account no longer exists')
    return passkeys.registrationOptions(user)
  })

  app.post('/me/passkeys/register/verify', { config }, async (request, reply) => {
    const body = parse(RegisterVerifyBody, request.body)
    const passkey = await passkeys.register(request.auth!.sub, body.response, body.name, requestContext(request))
    return reply.code(201).send(passkeyJson(passkey))
  })

  app.get('/me/passkeys', { config }, async (request) => {
    return { passkeys: (await passkeys.list(request.auth!.sub)).map(passkeyJson) }
  })

  app.patch('/me/passkeys/:id', { config }, async (request) => {
    const { id } = parse(PasskeyParams, request.params)
    const body = parse(RenameBody, request.body)
    return passkeyJson(await passkeys.rename(request.auth!.sub, id, body.name, requestContext(request)))
  })

  app.delete('/me/passkeys/:id', { config: sensitive }, async (request, reply) => {
    const { id } = parse(PasskeyParams, request.params)
    await passkeys.remove(request.auth!.sub, id, requestContext(request))
    return reply.code(204).send()
  })
}
