import type { Clock } from '../clock.ts'
import type { VerifiedTokenCache } from './verified-token-cache.ts'
import { verifyAccessToken, type AccessTokenClaims, type VerificationKey, type VerificationPolicy } from '@latchkey/verifier'

export interface AccessTokenVerifierOptions {
  /** The keys in force right now (read once per verification). */
  keys: () => ReadonlyMap<string, VerificationKey>
  policy: VerificationPolicy
  clock: Clock
  /** Tokens that already passed; the owner must clear it when the key set changes. */
  cache?: VerifiedTokenCache
}

/** Binds the verification policy to a key source, a clock and an optional cache: `(token) => claims`. */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): (token: string) => Readonly<AccessTokenClaims> {
  const { cache, clock, policy } = options
  if (!cache) return (token) => verifyAccessToken(token, options.keys(), policy, Math.floor(clock.now() / 1000))
  return (token) => {
    const nowMs = clock.now()
    const hit = cache.get(token, nowMs)
    if (hit) return hit
    // Throws on any failure, so only a success ever reaches the cache.
    const claims = verifyAccessToken(token, options.keys(), policy, Math.floor(nowMs / 1000))
    return cache.offer(token, claims, nowMs)
  }
}
