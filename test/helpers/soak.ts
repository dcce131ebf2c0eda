import { appendFileSync } from 'node:fs'

/**
 * Tests that have a long variant read these: `npm run soak` sets LATCHKEY_SOAK=1 and a report file
 * each test appends a line to (what load it held, which faults it injected, how many inputs it tried).
 */
export const SOAK = process.env.LATCHKEY_SOAK === '1'

/** The bounded value in `npm test`, the long one under `npm run soak`. */
export function scaled<T>(normal: T, soak: T): T {
  return SOAK ? soak : normal
}

export function soakReport(test: string, facts: Record<string, unknown>): void {
  const file = process.env.LATCHKEY_SOAK_REPORT
  if (file) appendFileSync(file, `${JSON.stringify({ test, ...facts })}\n`)
}
