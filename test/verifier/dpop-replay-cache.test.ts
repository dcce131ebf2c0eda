import { createMemoryDpopReplayCache } from '@latchkey/verifier'
import { describe, expect, it } from 'vitest'

/** The in-process DPoP replay cache: each proof once, expired proofs forgotten, a bounded size. */
describe('the in-memory DPoP replay cache', () => {
  it('accepts a (key, jti) once while it can still be accepted, and again after it expired', () => {
    const cache = createMemoryDpopReplayCache()
    expect(cache.firstUse('k', 'a', 1060, 1000)).toBe(true)
    expect(cache.firstUse('k', 'a', 1061, 1001)).toBe(false)
    expect(cache.firstUse('other-key', 'a', 1061, 1001)).toBe(true)
    expect(cache.firstUse('k', 'a', 1061, 1059.5)).toBe(false)
    expect(cache.firstUse('k', 'a', 1120, 1060)).toBe(true)
    expect(cache.firstUse('k', 'a', 1121, 1061)).toBe(false)
  })

  it('forgets expired proofs as time passes, without waiting to be full', () => {
    const cache = createMemoryDpopReplayCache(1_000_000)
    for (let i = 0; i < 6000; i++) cache.firstUse('k', `early-${i}`, 1000 + (i % 60), 990)
    expect(cache.size).toBe(6000)
    cache.firstUse('k', 'half', 1100, 1029.9)
    // Proofs expiring at 1000…1029 are gone, 1030…1059 remain.
    expect(cache.size).toBe(3000 + 1)
    cache.firstUse('k', 'late', 1200, 1060)
    expect(cache.size).toBe(2)
    // A proof seen again after it expired is remembered under its new time, not swept with the old one.
    expect(cache.firstUse('k', 'early-0', 1300, 1061)).toBe(true)
    cache.firstUse('k', 'x', 1300, 1150)
    expect(cache.firstUse('k', 'early-0', 1300, 1151)).toBe(false)
  })

  it('full of live proofs, it forgets the oldest ones only and stays within its bound', () => {
    const cache = createMemoryDpopReplayCache(1000)
    for (let i = 0; i < 5000; i++) expect(cache.firstUse('k', `p-${i}`, 2000, 1000)).toBe(true)
    expect(cache.size).toBe(1000)
    // The newest thousand are still refused as replays; the oldest were forgotten to make room.
    for (let i = 4000; i < 5000; i++) expect(cache.firstUse('k', `p-${i}`, 2000, 1001)).toBe(false)
    expect(cache.firstUse('k', 'p-0', 2000, 1001)).toBe(true)
    expect(cache.size).toBe(1000)
    // A clock that jumps far ahead sweeps everything in one go.
    cache.firstUse('k', 'after', 10_000_000, 9_000_000)
    expect(cache.size).toBe(1)
  })
})
