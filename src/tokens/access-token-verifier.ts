import type { KeyObject } from 'node:crypto'
import type { Clock } from '../clock.ts'
import type { AccessTokenClaims } from './access-token-claims.ts'
import { verifyAccessToken, type VerificationPolicy } from './verify-access-token.ts'

export interface AccessTokenVerifierOptions {
  /** The keys in force right now (read once per verification). */
  keys: () => ReadonlyMap<string, KeyObject>
  policy: VerificationPolicy
  clock: Clock
}

/** Binds the verification policy to a key source and a clock: `(token) => claims`. */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): (token: string) => AccessTokenClaims {
  return (token) => verifyAccessToken(token, options.keys(), options.policy, Math.floor(options.clock.now() / 1000))
}
