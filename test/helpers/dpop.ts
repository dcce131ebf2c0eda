import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { cryptoParameters, type SigningAlgorithm } from '@latchkey/verifier'
import { b64 } from './tokens.ts'

/** A client's DPoP key pair, and a proof builder that lets a test get any part of a proof wrong. */
export interface DpopClient {
  alg: SigningAlgorithm
  jwk: Record<string, unknown>
  privateKey: KeyObject
  proof(claims: ProofClaims, header?: Record<string, unknown>): string
}

export interface ProofClaims {
  htm: string
  htu: string
  /** Seconds since the epoch. */
  iat: number
  jti?: string
  /** The access token the proof goes with: its hash becomes `ath`. */
  accessToken?: string
  ath?: string
  nonce?: string
  [claim: string]: unknown
}

export function createDpopClient(alg: SigningAlgorithm = 'ES256'): DpopClient {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>
  return {
    alg,
    jwk,
    privateKey: pair.privateKey,
    proof({ accessToken, ...claims }, header = {}) {
      const payload: Record<string, unknown> = { jti: randomUUID(), ...claims }
      if (accessToken !== undefined && payload.ath === undefined) payload.ath = createHash('sha256').update(accessToken).digest('base64url')
      const input = `${b64({ typ: 'dpop+jwt', alg, jwk, ...header })}.${b64(payload)}`
      const p = cryptoParameters(alg, pair.privateKey)
      return `${input}.${sign(p.digest, Buffer.from(input), p.key).toString('base64url')}`
    },
  }
}

/** RFC 7638 thumbprint of the client's public key: the `cnf.jkt` of tokens bound to it. */
export function thumbprintOf(client: DpopClient): string {
  const { jwk } = client
  const members = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']
  return createHash('sha256').update(`{${members.map((m) => `"${m}":"${String(jwk[m])}"`).join(',')}}`).digest('base64url')
}
