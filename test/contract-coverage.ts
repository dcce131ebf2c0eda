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
let missing = documented.filter((d) => !seen.has(d))
console.log(`contract coverage: ${documented.length - missing.length}/${documented.length} documented responses produced by the tests`)
// The store-outage 503s come from the PostgreSQL outage suite, which runs only with a database.
if (!process.env.TEST_DATABASE_URL) {
  const needDatabase = missing.filter((m) => m.endsWith(' 503'))
  if (needDatabase.length) {
    console.warn(`not checked without TEST_DATABASE_URL (the PostgreSQL outage suite produces them): ${needDatabase.length} × 503`)
    missing = missing.filter((m) => !needDatabase.includes(m))
  }
}
if (missing.length) {
  console.error(`never produced by any test:\n${missing.map((m) => `  - ${m}`).join('\n')}`)
  process.exit(1)
}
