import { describe, expect, it } from 'vitest'
import { trimStartupMemory } from '../../src/memory-trim.ts'

/** Allocates ~30 MB that is garbage as soon as this returns; returns how many strings it made. */
function leaveGarbage(): number {
  const garbage = Array.from({ length: 200_000 }, (_, i) => `start-up garbage ${i} `.repeat(8))
  return garbage.length
}

describe('the start-up memory trim', () => {
  it('collects garbage left behind, without exposing gc() to the process', () => {
    expect(leaveGarbage()).toBe(200_000)
    const held = process.memoryUsage().heapUsed
    const trim = trimStartupMemory()
    expect(held - process.memoryUsage().heapUsed).toBeGreaterThan(20 * 2 ** 20)
    expect(trim.ms).toBeGreaterThanOrEqual(0)
    expect(trim.rssAfterMb).toBeGreaterThan(0)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
  })
})
