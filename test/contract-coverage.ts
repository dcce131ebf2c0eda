/**
 * Run after the whole suite (`npm test`): fails when an (operation, status) documented in
 * openapi.yaml was never produced by any test, so the spec cannot promise what nothing exercises.
 */
import { existsSync, readFileSync } from 'node:fs'
import { COVERAGE_LOG, documentedOperations } from './helpers/contract.ts'

if (!existsSync(COVERAGE_LOG)) {
  console.error('contract coverage: no log found; run the whole suite first (npm test)')
  process.exit(1)
}
const seen = new Set(readFileSync(COVERAGE_LOG, 'utf8').split('\n').filter(Boolean))
const documented = documentedOperations().flatMap((o) => o.statuses.map((s) => `${o.method} ${o.template} ${s}`))
const missing = documented.filter((d) => !seen.has(d))
console.log(`contract coverage: ${documented.length - missing.length}/${documented.length} documented responses produced by the tests`)
if (missing.length) {
  console.error(`never produced by any test:\n${missing.map((m) => `  - ${m}`).join('\n')}`)
  process.exit(1)
}
