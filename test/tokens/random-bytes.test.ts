import { describe, expect, it } from 'vitest'
import { randomBase64url, randomBuffer } from '../../src/tokens/random-bytes.ts'

describe('pooled random bytes', () => {
  it('hands out bytes of the size asked for, never the same twice, across refills of the pool', () => {
    // 600 × 32 bytes: the 4 KB pool is refilled four times on the way.
    const drawn = Array.from({ length: 600 }, () => randomBase64url(32))
    expect(drawn.every((t) => /^[A-Za-z0-9_-]{43}$/.test(t))).toBe(true)
    expect(new Set(drawn).size).toBe(drawn.length)
    // Sizes that do not divide the pool: a draw never straddles a refill.
    const ivs = Array.from({ length: 1000 }, () => randomBuffer(12))
    expect(ivs.every((b) => b.length === 12)).toBe(true)
    expect(new Set(ivs.map((b) => b.toString('hex'))).size).toBe(ivs.length)
  })

  it('gives each caller a buffer of its own, unchanged by later draws', () => {
    const first = randomBuffer(16)
    const copy = Buffer.from(first)
    for (let i = 0; i < 1000; i++) randomBuffer(16)
    expect(first.equals(copy)).toBe(true)
  })

  it('refuses a draw larger than the pool', () => {
    expect(() => randomBuffer(4097)).toThrow(RangeError)
  })
})
