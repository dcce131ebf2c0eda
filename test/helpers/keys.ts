import { generateSigningKey, type GeneratedKey } from '../../src/keys/generate-key.ts'
import { KeyRing } from '../../src/keys/key-ring.ts'
import { createKeySet, type KeyRecord } from '../../src/keys/key-set.ts'

let shared: Promise<GeneratedKey> | undefined

/** One RSA key per test process: generating 2048-bit keys is the slow part of a test app. */
export function sharedTestKey(): Promise<GeneratedKey> {
  shared ??= generateSigningKey()
  return shared
}

export function recordOf(key: GeneratedKey, state: KeyRecord['state'] = 'current'): KeyRecord {
  const at = new Date(0).toISOString()
  return { kid: key.kid, alg: key.alg, state, createdAt: at, activatedAt: state === 'next' ? null : at, retiredAt: null, privateKey: key.privateKey, publicKey: key.publicKey }
}

export async function inMemoryKeyRing(): Promise<KeyRing> {
  return new KeyRing(createKeySet([recordOf(await sharedTestKey())]))
}
