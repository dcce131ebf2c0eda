import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject, type SigningOptions } from 'node:crypto'
import { assertStrongRsaKey } from './rsa-key.ts'

/**
 * The JWS algorithms a Latchkey key may sign with. Each key's algorithm is fixed with its kid (in
 * Latchkey's manifest and in the JWKS `alg`), and a token is verified only with the algorithm bound
 * to the key it names: the header's `alg` must agree, but never chooses.
 */
export const SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number]

/** A public key and the one algorithm it verifies. */
export interface VerificationKey {
  key: KeyObject
  alg: SigningAlgorithm
}

export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value)
}

/** Throws unless the key is of the type the algorithm needs (RSA ≥ 2048 bits, P-256, Ed25519). */
export function assertKeyFitsAlgorithm(key: KeyObject, alg: SigningAlgorithm, label: string): void {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return assertStrongRsaKey(key, label)
    case 'ES256':
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new Error(`${label}: ES256 needs a P-256 EC key, got ${key.asymmetricKeyType ?? key.type}`)
      }
      return
    case 'EdDSA':
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${label}: EdDSA needs an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`)
      return
  }
}

/** The byte length every valid signature of this key has: checked before any crypto runs. */
export function signatureLength(key: VerificationKey): number {
  if (key.alg === 'RS256' || key.alg === 'PS256') return Math.ceil((key.key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  return 64
}

/** node:crypto's digest and key options for one algorithm: JWS wants PSS with a 32-byte salt and raw (r‖s) ECDSA signatures. */
export function cryptoParameters(alg: SigningAlgorithm, key: KeyObject): { digest: string | null; key: KeyObject | (SigningOptions & { key: KeyObject }) } {
  switch (alg) {
    case 'RS256':
      return { digest: 'sha256', key }
    case 'PS256':
      return { digest: 'sha256', key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } }
    case 'ES256':
      return { digest: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } }
    case 'EdDSA':
      return { digest: null, key }
  }
}

export function verifySignature(key: VerificationKey, signingInput: Buffer, signature: Buffer): boolean {
  const p = cryptoParameters(key.alg, key.key)
  return verify(p.digest, signingInput, p.key, signature)
}

/**
 * The algorithm a published JWK is bound to, or undefined for a key Latchkey would not sign with
 * (other types, curves or uses, weak RSA, or an `alg` that does not fit the key type). A missing
 * `alg` means the type's only choice; RSA without `alg` means RS256.
 */
export function algorithmOfJwk(jwk: JsonWebKey & { alg?: unknown; use?: unknown }): SigningAlgorithm | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined
  const alg = jwk.alg
  switch (jwk.kty) {
    case 'RSA':
      if (alg === undefined || alg === 'RS256') return 'RS256'
      return alg === 'PS256' ? 'PS256' : undefined
    case 'EC':
      return jwk.crv === 'P-256' && (alg === undefined || alg === 'ES256') ? 'ES256' : undefined
    case 'OKP':
      return jwk.crv === 'Ed25519' && (alg === undefined || alg === 'EdDSA' || alg === 'Ed25519') ? 'EdDSA' : undefined
    default:
      return undefined
  }
}

/** Imports a public JWK for its bound algorithm; throws when it is unusable. */
export function importVerificationKey(jwk: JsonWebKey & { alg?: unknown; use?: unknown }, label: string): VerificationKey {
  const alg = algorithmOfJwk(jwk)
  if (!alg) throw new Error(`${label}: not a signing key of ${SIGNING_ALGORITHMS.join(', ')}`)
  const members: JsonWebKey =
    jwk.kty === 'RSA' ? { kty: 'RSA', n: jwk.n, e: jwk.e } : jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x }
  const key = createPublicKey({ key: members, format: 'jwk' })
  assertKeyFitsAlgorithm(key, alg, label)
  return { key, alg }
}
