import { describe, expect, it } from 'vitest'
import { trimStartupMemory } from '../../src/memory-trim.ts'

describe('the start-up memory trim', () => {
  it('collects garbage left behind, without exposing gc() to the process', () => {
    let garbage: string[] | null = Array.from({ length: 200_000 }, (_, i) => `start-up garbage ${i} `.repeat(8))
    const held = process.memoryUsage().heapUsed
    expect(garbage.length).toBe(200_000)
    garbage = null
    const trim = trimStartupMemory()
    expect(held - process.memoryUsage().heapUsed).toBeGreaterThan(20 * 2 ** 20)
    expect(trim.ms).toBeGreaterThanOrEqual(0)
    expect(trim.rssAfterMb).toBeGreaterThan(0)
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined()
  })
})
