import { generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { SigningAlgorithm } from '@latchkey/verifier'
import { calculateJwkThumbprint } from 'jose'
import { MIN_RSA_BITS, toPublicJwk } from './key-set.ts'

const generate = promisify(generateKeyPair)

export interface GeneratedKey {
  kid: string
  alg: SigningAlgorithm
  privateKey: KeyObject
  publicKey: KeyObject
}

/**
 * A fresh signing key whose kid is its RFC 7638 thumbprint: RSA (RS256, PS256; `modulusLength`
 * bits), P-256 (ES256) or Ed25519 (EdDSA).
 */
export async function generateSigningKey(alg: SigningAlgorithm = 'RS256', modulusLength = MIN_RSA_BITS): Promise<GeneratedKey> {
  let pair: { privateKey: KeyObject; publicKey: KeyObject }
  switch (alg) {
    case 'RS256':
    case 'PS256':
      if (modulusLength < MIN_RSA_BITS) throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits`)
      pair = await generate('rsa', { modulusLength })
      break
    case 'ES256':
      pair = await generate('ec', { namedCurve: 'P-256' })
      break
    case 'EdDSA':
      pair = await generate('ed25519')
      break
  }
  return { kid: await thumbprint(pair.publicKey), alg, ...pair }
}

/** The RFC 7638 SHA-256 thumbprint of a public key: its kid. */
export async function thumbprint(publicKey: KeyObject): Promise<string> {
  const { kty, n, e, crv, x, y } = toPublicJwk('', publicKey, 'RS256')
  return calculateJwkThumbprint({ kty, n, e, crv, x, y } as Parameters<typeof calculateJwkThumbprint>[0], 'sha256')
}
