import { mkdirSync, writeFileSync } from 'node:fs'

/** Starts each run with an empty contract-coverage log (test/helpers/contract.ts appends to it). */
export default function setup(): void {
  mkdirSync(new URL('../test-results/', import.meta.url), { recursive: true })
  writeFileSync(new URL('../test-results/contract-coverage.log', import.meta.url), '')
}
