/**
 * `npm run soak`: the long variants of the reliability tests — many more fuzz cases, several
 * SIGKILL/restart cycles, a minute of load under hostile clients, a bigger shutdown drain. Bounded
 * (about three minutes on two cores), loopback only. Prints what was held, injected and tried, then
 * a last line `N passed, N failed`.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const FILES = [
  'test/routes/fuzz.test.ts',
  'test/net/limits.test.ts',
  'test/process/crash-safety.test.ts',
  'test/process/graceful-shutdown.test.ts',
  'test/process/load-under-faults.test.ts',
]

interface VitestJson {
  numPassedTests: number
  numFailedTests: number
  numPendingTests: number
  testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }> }>
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-soak-'))
const reportFile = join(dir, 'report.jsonl')
const resultFile = join(dir, 'vitest.json')
const started = Date.now()

const child = spawn(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...FILES, '--no-file-parallelism', '--reporter=default', '--reporter=json', `--outputFile.json=${resultFile}`],
  {
    cwd: root,
    env: { ...process.env, LATCHKEY_SOAK: '1', LATCHKEY_SOAK_REPORT: reportFile },
    stdio: ['ignore', 'inherit', 'inherit'],
  },
)
// A hard bound on the whole soak, whatever hangs.
const guard = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000)
const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
clearTimeout(guard)

let passed = 0
let failed = 0
try {
  const results = JSON.parse(readFileSync(resultFile, 'utf8')) as VitestJson
  passed = results.numPassedTests
  failed = results.numFailedTests
  for (const file of results.testResults) {
    for (const t of file.assertionResults) if (t.status === 'failed') console.log(`FAILED ${t.fullName}\n  ${t.failureMessages[0]?.split('\n')[0] ?? ''}`)
  }
} catch {
  failed = Math.max(1, failed)
  console.log(`vitest produced no results (exit ${exitCode})`)
}

console.log('\nsoak report')
let lines: string[] = []
try {
  lines = readFileSync(reportFile, 'utf8').trim().split('\n').filter(Boolean)
} catch {
  // no test reported
}
for (const line of lines) {
  const { test, ...facts } = JSON.parse(line) as { test: string } & Record<string, unknown>
  console.log(`  ${test}: ${JSON.stringify(facts)}`)
}
console.log(`  took ${Math.round((Date.now() - started) / 1000)} s on ${FILES.length} files, loopback only`)
rmSync(dir, { recursive: true, force: true })
if (exitCode !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
