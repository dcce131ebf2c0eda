import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import { expect } from 'vitest'
import { bearer, type TestApp } from './app.ts'

/**
 * A software authenticator (WebAuthn Level 3, "none" attestation, ES256): what a platform
 * authenticator sends, made with node:crypto, so server tests run real ceremonies without a
 * browser. Every field can be bent to produce the faults the server must refuse.
 */

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')

export interface CeremonyOptions {
  /** The challenge from the server's options (base64url). */
  challenge: string
  origin: string
  rpId: string
  /** Flags: user verified (default true), backup eligible/state (default false). */
  userVerified?: boolean
  backedUp?: boolean
  /** Overrides the signature counter the authenticator reports. */
  counter?: number
}

export interface SoftwarePasskey {
  readonly credentialId: string
  /** The user handle it stores (the registration options' user.id), set by register(). */
  userHandle: string | undefined
  counter: number
  register(options: CeremonyOptions & { userId: string }): RegistrationResponseJson
  assert(options: CeremonyOptions & { withUserHandle?: boolean }): AuthenticationResponseJson
}

export interface RegistrationResponseJson {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string; attestationObject: string; transports: string[] }
  clientExtensionResults: Record<string, unknown>
  authenticatorAttachment: 'platform'
}

export interface AuthenticationResponseJson {
  id: string
  rawId: string
  type: 'public-key'
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string }
  clientExtensionResults: Record<string, unknown>
  authenticatorAttachment: 'platform'
}

function coseKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' })
  return isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  )
}

function authData(rpId: string, flags: number, counter: number, attested?: Uint8Array): Buffer {
  const head = Buffer.alloc(37)
  createHash('sha256').update(rpId).digest().copy(head, 0)
  head[32] = flags
  head.writeUInt32BE(counter, 33)
  return attested ? Buffer.concat([head, attested]) : head
}

function flagsOf(o: CeremonyOptions, attested: boolean): number {
  const uv = o.userVerified ?? true
  // UP=0x01, UV=0x04, BE=0x08, BS=0x10, AT=0x40
  return 0x01 | (uv ? 0x04 : 0) | (o.backedUp ? 0x18 : 0) | (attested ? 0x40 : 0)
}

export function createSoftwarePasskey(): SoftwarePasskey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rawId = randomBytes(32)
  const credentialId = b64url(rawId)
  const clientData = (type: string, o: CeremonyOptions) => b64url(JSON.stringify({ type, challenge: o.challenge, origin: o.origin, crossOrigin: false }))

  const passkey: SoftwarePasskey = {
    credentialId,
    userHandle: undefined,
    counter: 0,
    register(o) {
      passkey.userHandle = o.userId
      const idLength = Buffer.alloc(2)
      idLength.writeUInt16BE(rawId.length)
      const attested = Buffer.concat([Buffer.alloc(16), idLength, rawId, coseKey(publicKey)])
      const attestationObject = isoCBOR.encode(
        new Map<string, string | Map<string, string> | Uint8Array>([
          ['fmt', 'none'],
          ['attStmt', new Map<string, string>()],
          ['authData', authData(o.rpId, flagsOf(o, true), o.counter ?? passkey.counter, attested)],
        ]),
      )
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: { clientDataJSON: clientData('webauthn.create', o), attestationObject: b64url(attestationObject), transports: ['internal', 'hybrid'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      }
    },
    assert(o) {
      passkey.counter = o.counter ?? passkey.counter + 1
      const data = authData(o.rpId, flagsOf(o, false), passkey.counter)
      const clientDataJSON = clientData('webauthn.get', o)
      const signed = Buffer.concat([data, createHash('sha256').update(Buffer.from(clientDataJSON, 'base64url')).digest()])
      const signature = sign('sha256', signed, privateKey)
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: {
          clientDataJSON,
          authenticatorData: b64url(data),
          signature: b64url(signature),
          ...(o.withUserHandle !== false && passkey.userHandle ? { userHandle: b64url(passkey.userHandle) } : {}),
        },
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
      }
    },
  }
  return passkey
}

/**
 * A new software passkey registered on the signed-in account of `accessToken` through the API
 * (options, then verify, which must answer 201), for tests that then sign in with it.
 */
export async function enrolSoftwarePasskey(t: TestApp, accessToken: string, ceremony: { origin: string; rpId: string }): Promise<SoftwarePasskey> {
  const passkey = createSoftwarePasskey()
  const headers = bearer(accessToken)
  const options = (await t.inject({ method: 'POST', url: '/me/passkeys/register/options', payload: {}, headers })).json() as { challenge: string; user: { id: string } }
  const userId = Buffer.from(options.user.id, 'base64url').toString()
  const response = passkey.register({ ...ceremony, challenge: options.challenge, userId })
  expect((await t.inject({ method: 'POST', url: '/me/passkeys/register/verify', payload: { response }, headers })).statusCode).toBe(201)
  return passkey
}
