import type { KeyObject } from 'node:crypto'

/** RFC 7518 §3.3 asks for 2048 bits at least; DESIGN §4 too. */
export const MIN_RSA_BITS = 2048

/** Throws unless the key is RSA with a modulus of at least MIN_RSA_BITS. */
export function assertStrongRsaKey(key: KeyObject, label: string): void {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new Error(`${label}: expected an RSA key, got ${key.asymmetricKeyType ?? key.type}`)
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_RSA_BITS) throw new Error(`${label}: RSA key of ${bits} bits is too weak (minimum ${MIN_RSA_BITS})`)
}
