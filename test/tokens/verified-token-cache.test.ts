import { describe, expect, it } from 'vitest'
import { ProblemError } from '@latchkey/verifier'
import { createFixedClock } from '../../src/clock.ts'
import type { AccessTokenClaims, VerificationKey } from '@latchkey/verifier'
import { createAccessTokenVerifier } from '../../src/tokens/access-token-verifier.ts'
import { signAccessTokenSync } from '../../src/tokens/sign-access-token.ts'
import { createVerifiedTokenCache } from '../../src/tokens/verified-token-cache.ts'
import { sharedTestKey } from '../helpers/keys.ts'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const S0 = T0 / 1000

function claimsExpiringAt(exp: number): AccessTokenClaims {
  return { iss: 'i', sub: 's', aud: 'a', exp, iat: exp - 600, nbf: exp - 600, jti: 'j', sid: 'sid', scope: 'user' }
}

describe('the verified-token cache', () => {
  it('forgets an entry at the token exp even when the cap is longer', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 3_600_000 })
    cache.set('tok', claimsExpiringAt(S0 + 30), T0)
    expect(cache.get('tok', T0 + 29_999)).toBeDefined()
    expect(cache.get('tok', T0 + 30_000)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('forgets an entry after the configured cap even when exp is further away', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    cache.set('tok', claimsExpiringAt(S0 + 600), T0)
    expect(cache.get('tok', T0 + 59_999)).toBeDefined()
    expect(cache.get('tok', T0 + 60_000)).toBeUndefined()
  })

  it('never holds more than maxEntries, evicting the least recently used', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 3, ttlMs: 60_000 })
    for (const t of ['a', 'b', 'c']) cache.set(t, claimsExpiringAt(S0 + 600), T0)
    cache.get('a', T0) // a is now the most recently used
    cache.set('d', claimsExpiringAt(S0 + 600), T0)
    expect(cache.size).toBe(3)
    expect(cache.get('b', T0)).toBeUndefined()
    expect(['a', 'c', 'd'].every((t) => cache.get(t, T0) !== undefined)).toBe(true)
    for (let i = 0; i < 1000; i++) cache.set(`t${i}`, claimsExpiringAt(S0 + 600), T0)
    expect(cache.size).toBe(3)
  })

  it('does not store a token whose exp has already passed', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    cache.set('tok', claimsExpiringAt(S0 - 5), T0) // still inside the verifier's clock tolerance
    expect(cache.size).toBe(0)
  })

  it('hands out frozen claims, so one request cannot alter what the next one sees', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    cache.set('tok', claimsExpiringAt(S0 + 600), T0)
    expect(Object.isFrozen(cache.get('tok', T0))).toBe(true)
  })

  it('offer() stores a token only when it was offered once before', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    expect(Object.isFrozen(cache.offer('tok', claimsExpiringAt(S0 + 600), T0))).toBe(true)
    expect(cache.get('tok', T0)).toBeUndefined()
    cache.offer('tok', claimsExpiringAt(S0 + 600), T0)
    expect(cache.get('tok', T0)?.exp).toBe(S0 + 600)
    // Distinct tokens offered once are (but for a rare false "seen before") never stored.
    const roomy = createVerifiedTokenCache({ maxEntries: 5000, ttlMs: 60_000 })
    for (let i = 0; i < 2000; i++) roomy.offer(`once-${i}.${(i * 7919).toString(36)}`, claimsExpiringAt(S0 + 600), T0)
    expect(roomy.size).toBeLessThan(10)
  })

  it('answers only for the exact token: another one ending the same way is a miss', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    const ending = 'x'.repeat(64)
    cache.set(`genuine.${ending}`, claimsExpiringAt(S0 + 600), T0)
    expect(cache.get(`forged.${ending}`, T0)).toBeUndefined()
    expect(cache.get(`genuine.${ending}`.slice(1), T0)).toBeUndefined()
    expect(cache.get(`genuine.${ending}`, T0)?.exp).toBe(S0 + 600)
  })

  it('clear() empties it', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, ttlMs: 60_000 })
    cache.set('tok', claimsExpiringAt(S0 + 600), T0)
    cache.clear()
    expect(cache.get('tok', T0)).toBeUndefined()
  })
})

describe('the verifier with a cache', () => {
  const policy = { issuer: 'https://issuer.test', audience: 'api', clockTolerance: 30 }

  async function setup() {
    const key = await sharedTestKey()
    const clock = createFixedClock(T0)
    const cache = createVerifiedTokenCache({ maxEntries: 100, ttlMs: 60_000 })
    let keys: ReadonlyMap<string, VerificationKey> = new Map([[key.kid, { key: key.publicKey, alg: key.alg }]])
    const verify = createAccessTokenVerifier({ keys: () => keys, policy, clock, cache })
    const sign = (over: Partial<{ audience: string; now: number; ttl: number }> = {}) =>
      signAccessTokenSync(
        { issuer: policy.issuer, audience: over.audience ?? 'api', subject: 'u1', sessionId: 's1', scope: 'user', now: over.now ?? S0, ttl: over.ttl ?? 600 },
        key,
      ).token
    return { clock, cache, verify, sign, dropKeys: () => (keys = new Map()) }
  }

  function codeOf(fn: () => unknown): string {
    try {
      fn()
    } catch (err) {
      return err instanceof ProblemError ? err.code : `not a ProblemError: ${String(err)}`
    }
    return 'accepted'
  }

  it('admits a token on its second verification, then answers it without the keys (hence without crypto)', async () => {
    const { verify, sign, dropKeys, cache } = await setup()
    const token = sign()
    verify(token)
    expect(cache.size).toBe(0) // a first sighting is only remembered
    const second = verify(token)
    expect(cache.size).toBe(1)
    dropKeys()
    expect(verify(token)).toBe(second)
  })

  it('forgets first sightings when it is cleared (a key-set change)', async () => {
    const { verify, sign, cache } = await setup()
    const token = sign()
    verify(token)
    cache.clear()
    verify(token)
    expect(cache.size).toBe(0)
    verify(token)
    expect(cache.size).toBe(1)
  })

  it('never caches a failure: a refused token is refused again, and nothing is stored', async () => {
    const { verify, sign, cache } = await setup()
    const wrongAudience = sign({ audience: 'other' })
    expect(codeOf(() => verify(wrongAudience))).toBe('invalid_token')
    expect(codeOf(() => verify(wrongAudience))).toBe('invalid_token')
    const tampered = sign().slice(0, -4) + 'AAAA'
    expect(codeOf(() => verify(tampered))).toBe('invalid_token')
    expect(cache.size).toBe(0)
  })

  it('verifies in full a forged token that ends like a cached one (same signature, other payload)', async () => {
    const { verify, sign, cache } = await setup()
    const token = sign()
    verify(token)
    verify(token)
    expect(cache.size).toBe(1)
    const [h, p, s] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'user admin' })).toString('base64url')}.${s}`
    expect(codeOf(() => verify(forged))).toBe('invalid_token')
    expect(codeOf(() => verify(forged))).toBe('invalid_token')
    expect(verify(token).scope).toBe('user')
  })

  it('a failure does not shadow a later success (not-yet-valid, then valid)', async () => {
    const { verify, sign, clock } = await setup()
    const early = sign({ now: S0 + 120 })
    expect(codeOf(() => verify(early))).toBe('invalid_token')
    clock.advance(120_000)
    expect(codeOf(() => verify(early))).toBe('accepted')
  })

  it('refuses a cached token once its exp has passed', async () => {
    const { verify, sign, clock, cache } = await setup()
    const token = sign({ ttl: 60 })
    verify(token)
    verify(token)
    expect(cache.size).toBe(1)
    clock.advance(59_000)
    expect(codeOf(() => verify(token))).toBe('accepted')
    clock.advance(1_000 + 30_000) // exp plus the clock tolerance
    expect(codeOf(() => verify(token))).toBe('token_expired')
  })
})
