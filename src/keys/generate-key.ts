import { generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { calculateJwkThumbprint } from 'jose'
import { MIN_RSA_BITS, toPublicJwk } from './key-set.ts'

const generateRsa = promisify(generateKeyPair)

export interface GeneratedKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
}

/** A fresh RSA key whose kid is its RFC 7638 thumbprint. */
export async function generateSigningKey(modulusLength = MIN_RSA_BITS): Promise<GeneratedKey> {
  if (modulusLength < MIN_RSA_BITS) throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits`)
  const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength })
  return { kid: await rsaThumbprint(publicKey), privateKey, publicKey }
}

export async function rsaThumbprint(publicKey: KeyObject): Promise<string> {
  const { n, e } = toPublicJwk('', publicKey)
  return calculateJwkThumbprint({ kty: 'RSA', n, e }, 'sha256')
}
