import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { SigningAlgorithm, VerificationKey } from '@latchkey/verifier'

export type KeyState = 'next' | 'current' | 'previous' | 'retired'

/** A key as the manifest records it, with its material once loaded. */
export interface KeyRecord {
  kid: string
  /** Fixed with the kid: the only algorithm this key signs and verifies. */
  alg: SigningAlgorithm
  state: KeyState
  createdAt: string
  activatedAt: string | null
  retiredAt: string | null
  /** Absent for keys whose private half is gone (a key set built for verification only). */
  privateKey?: KeyObject
  publicKey: KeyObject
}

export interface PublicJwk extends JsonWebKey {
  kty: 'RSA' | 'EC' | 'OKP'
  kid: string
  alg: SigningAlgorithm
  use: 'sig'
}

export interface Jwks {
  keys: PublicJwk[]
}

/**
 * An immutable view of the keys at one moment: which key signs, which keys verify, and the JWKS to
 * publish. Built once per key-set change so nothing on the request path parses or imports a key.
 */
export interface KeySet {
  readonly signing: { kid: string; alg: SigningAlgorithm; privateKey: KeyObject } | null
  /** next + current + previous, each with its algorithm: exactly the keys the JWKS publishes. */
  readonly verificationKeys: ReadonlyMap<string, VerificationKey>
  readonly jwks: Jwks
  readonly records: readonly KeyRecord[]
}

export { assertStrongRsaKey, MIN_RSA_BITS } from '@latchkey/verifier'

export function createKeySet(records: readonly KeyRecord[]): KeySet {
  const published = records.filter((r) => r.state !== 'retired')
  const current = records.filter((r) => r.state === 'current')
  if (current.length > 1) throw new Error(`key set has ${current.length} current keys; exactly one may sign`)
  const signer = current[0]
  return {
    signing: signer?.privateKey ? { kid: signer.kid, alg: signer.alg, privateKey: signer.privateKey } : null,
    verificationKeys: new Map(published.map((r) => [r.kid, { key: r.publicKey, alg: r.alg }])),
    jwks: { keys: published.map((r) => toPublicJwk(r.kid, r.publicKey, r.alg)) },
    records,
  }
}

/** The public JWK the JWKS publishes: the key's public members, its kid and its bound algorithm. */
export function toPublicJwk(kid: string, key: KeyObject, alg: SigningAlgorithm): PublicJwk {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' })
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', kid, alg, use: 'sig', n: jwk.n, e: jwk.e }
    case 'EC':
      return { kty: 'EC', kid, alg, use: 'sig', crv: jwk.crv, x: jwk.x, y: jwk.y }
    case 'OKP':
      return { kty: 'OKP', kid, alg, use: 'sig', crv: jwk.crv, x: jwk.x }
    default:
      throw new Error(`key ${kid} is of an unsupported type ${String(jwk.kty)}`)
  }
}
