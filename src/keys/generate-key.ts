import { generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { jwkThumbprint, type SigningAlgorithm } from '@latchkey/verifier'
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
  // The verifier's RFC 7638 function, the one DPoP's `cnf.jkt` uses too (jose's costs ~14 MB resident).
  return jwkThumbprint(toPublicJwk('', publicKey, 'RS256') as unknown as Record<string, unknown>)
}
