import { createHash } from 'node:crypto'
import { z } from 'zod'
import { AppError } from '../errors.ts'

/**
 * The parts of a WebAuthn response Latchkey checks itself before the library verifies the
 * signature, so each way a ceremony fails gets its own problem code instead of one opaque error.
 */

const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+={0,2}$/, { message: 'must be base64url' })
const Transports = z.array(z.string().max(32)).max(8)
const ClientExtensionResults = z.record(z.string(), z.unknown())

/** What @simplewebauthn/browser's startRegistration() returns (WebAuthn's RegistrationResponseJSON). */
export const RegistrationResponseSchema = z.object({
  id: b64url(1366),
  rawId: b64url(1366),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(16384),
    transports: Transports.optional(),
    authenticatorData: b64url(8192).optional(),
    publicKey: b64url(4096).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
  clientExtensionResults: ClientExtensionResults,
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
})

/** What startAuthentication() returns (AuthenticationResponseJSON). */
export const AuthenticationResponseSchema = z.object({
  id: b64url(1366),
  rawId: b64url(1366),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(8192),
    signature: b64url(8192),
    userHandle: b64url(128).optional(),
  }),
  clientExtensionResults: ClientExtensionResults,
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
})

export type RegistrationResponse = z.infer<typeof RegistrationResponseSchema>
export type AuthenticationResponse = z.infer<typeof AuthenticationResponseSchema>

export interface ClientData {
  challenge: string
  origin: string
}

const ClientDataSchema = z.object({ type: z.string(), challenge: z.string().min(1).max(512), origin: z.string().max(2048) })

/** Decodes clientDataJSON and checks it is the ceremony expected ("webauthn.create" / "webauthn.get"). */
export function readClientData(clientDataJSON: string, type: 'webauthn.create' | 'webauthn.get'): ClientData {
  let data: unknown
  try {
    data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'))
  } catch {
    throw new AppError('passkey_response_invalid', 'clientDataJSON is not JSON')
  }
  const parsed = ClientDataSchema.safeParse(data)
  if (!parsed.success) throw new AppError('passkey_response_invalid', 'clientDataJSON lacks type, challenge or origin')
  if (parsed.data.type !== type) throw new AppError('passkey_response_invalid', `clientDataJSON is for ${JSON.stringify(parsed.data.type)}, expected ${type}`)
  return parsed.data
}

export function checkOrigin(origin: string, allowed: readonly string[]): void {
  if (!allowed.includes(origin)) throw new AppError('passkey_origin_mismatch', `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed for passkeys`)
}

/** The library's CBOR and authenticator-data parsers, loaded with the first ceremony (see passkey-service.ts). */
const helpers = () => import('@simplewebauthn/server/helpers')

async function checkRpIdHash(authData: Uint8Array<ArrayBuffer>, rpId: string): Promise<void> {
  const { parseAuthenticatorData } = await helpers()
  let rpIdHash: Uint8Array
  try {
    rpIdHash = parseAuthenticatorData(authData).rpIdHash
  } catch {
    throw new AppError('passkey_response_invalid', 'authenticator data is malformed')
  }
  const expected = createHash('sha256').update(rpId).digest()
  if (!expected.equals(Buffer.from(rpIdHash))) throw new AppError('passkey_rp_id_mismatch', 'the credential is scoped to another relying party id')
}

/** The attestation's authenticator data must parse and name this relying party. */
export async function checkAttestationRpId(attestationObject: string, rpId: string): Promise<void> {
  const { decodeAttestationObject } = await helpers()
  let authData: Uint8Array<ArrayBuffer>
  try {
    authData = decodeAttestationObject(Buffer.from(attestationObject, 'base64url')).get('authData')
  } catch {
    throw new AppError('passkey_response_invalid', 'attestationObject is not valid CBOR')
  }
  if (!(authData instanceof Uint8Array)) throw new AppError('passkey_response_invalid', 'attestationObject has no authenticator data')
  await checkRpIdHash(authData, rpId)
}

export async function checkAssertionRpId(authenticatorData: string, rpId: string): Promise<void> {
  await checkRpIdHash(Buffer.from(authenticatorData, 'base64url'), rpId)
}
