import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'

export type KeyState = 'next' | 'current' | 'previous' | 'retired'

/** A key as the manifest records it, with its material once loaded. */
export interface KeyRecord {
  kid: string
  state: KeyState
  createdAt: string
  activatedAt: string | null
  retiredAt: string | null
  /** Absent for keys whose private half is gone (a key set built for verification only). */
  privateKey?: KeyObject
  publicKey: KeyObject
}

export interface PublicJwk extends JsonWebKey {
  kty: 'RSA'
  kid: string
  alg: 'RS256'
  use: 'sig'
  n: string
  e: string
}

export interface Jwks {
  keys: PublicJwk[]
}

/**
 * An immutable view of the keys at one moment: which key signs, which keys verify, and the JWKS to
 * publish. Built once per key-set change so nothing on the request path parses or imports a key.
 */
export interface KeySet {
  readonly signing: { kid: string; privateKey: KeyObject } | null
  /** next + current + previous: exactly the keys the JWKS publishes. */
  readonly verificationKeys: ReadonlyMap<string, KeyObject>
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
    signing: signer?.privateKey ? { kid: signer.kid, privateKey: signer.privateKey } : null,
    verificationKeys: new Map(published.map((r) => [r.kid, r.publicKey])),
    jwks: { keys: published.map((r) => toPublicJwk(r.kid, r.publicKey)) },
    records,
  }
}

export function toPublicJwk(kid: string, key: KeyObject): PublicJwk {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' })
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new Error(`key ${kid} is not an RSA key`)
  return { kty: 'RSA', kid, alg: 'RS256', use: 'sig', n: jwk.n, e: jwk.e }
}
