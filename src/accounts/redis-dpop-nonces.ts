import { randomBytes } from 'node:crypto'
import type { DpopNonces } from '@latchkey/verifier'
import type { Redis } from 'ioredis'
import { DependencyUnavailableError } from '../dependency-unavailable.ts'

/**
 * DPoP server nonces (RFC 9449 §8) every instance agrees on: one random nonce per window of
 * `lifetime` seconds, the first instance to need it writes it (SET NX), the others read it; each
 * instance keeps the two it needs (current and previous window), so Redis is asked about once per
 * window. A Redis failure fails closed, as a 503.
 */
export function createRedisDpopNonces(redis: Redis, lifetime: number): DpopNonces {
  const known = new Map<number, string>()

  async function nonceOf(window: number, create: boolean): Promise<string | undefined> {
    const cached = known.get(window)
    if (cached !== undefined) return cached
    const key = `dpop-nonce:${window}`
    let nonce: string | null
    try {
      if (create) await redis.set(key, randomBytes(16).toString('base64url'), 'EX', lifetime * 2 + 60, 'NX')
      nonce = await redis.get(key)
    } catch (err) {
      throw new DependencyUnavailableError('redis', err)
    }
    if (nonce === null) return undefined
    known.set(window, nonce)
    for (const w of known.keys()) if (w < window - 1) known.delete(w)
    return nonce
  }

  return {
    async current(now) {
      return (await nonceOf(Math.floor(now / lifetime), true)) as string
    },
    async accepts(nonce, now) {
      const window = Math.floor(now / lifetime)
      return nonce === (await nonceOf(window, true)) || nonce === (await nonceOf(window - 1, false))
    },
  }
}
