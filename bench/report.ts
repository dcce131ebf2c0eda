import type { LoadResult } from './load.ts'

export interface Row {
  scenario: string
  result: LoadResult
  /** A raw rate measured in the bench process that this row is compared with instead of the baseline. */
  reference?: { name: string; rps: number }
}

export interface Target {
  name: string
  target: string
  value: number
  unit: string
  met: boolean
}

export interface Report {
  date: string
  machine: { cpu: string; cores: number; memoryGb: number; node: string; kernel: string; loadAverageAtEnd: number[] }
  settings: Record<string, unknown>
  baseline: { rps: number }
  rows: Row[]
  /** Absent when only some sections ran (`npm run bench -- --only=mail`). */
  raw?: { rs256SignPerS: number; argon2idHashPerS: number; es256VerifyPerS?: number }
  process?: { tokenBytes: number; tokenBytesByAlgorithm?: Record<string, number>; coldStartMs: number; firstStartWithKeyGenerationMs: number; idleRssMb: number | null; rssAfterRunMb: number | null }
  /** The mail section (bench/mail.ts): the outbox drain, beside its rows and targets. */
  mail?: { drain: { backlog: number; delivered: number; seconds: number; perSecond: number; serverCpuUsPerMessage: number | null; duplicates: number } }
  targets: Target[]
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '–')

/** The table as Markdown, so the same text goes to the terminal and to docs/performance.md. */
export function renderReport(r: Report): string {
  const lines = [
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB, Node ${r.machine.node}, Linux ${r.machine.kernel}; load average at end ${r.machine.loadAverageAtEnd.join(' / ')}`,
    `Baseline (Latchkey GET /health/live, interleaved with the other GET scenarios): ${fixed(r.baseline.rps, 0)} req/s`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | server CPU µs/req | × baseline | × reference | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(({ scenario, result, reference }) =>
      `| ${scenario} | ${fixed(result.rps, 0)} | ${fixed(result.p50, 2)} | ${fixed(result.p99, 2)} | ${fixed(result.serverCpuUs ?? NaN, 0)} | ${fixed(result.rps / r.baseline.rps, 2)} | ${reference ? `${fixed(result.rps / reference.rps, 2)} (${reference.name} ${fixed(reference.rps, 1)}/s)` : ''} | ${result.non2xx + result.errors} |`,
    ),
    '',
    '| target | goal | measured | |',
    '|---|---|---:|---|',
    ...r.targets.map((t) => `| ${t.name} | ${t.target} | ${fixed(t.value, t.unit === '×' ? 2 : 0)} ${t.unit} | ${t.met ? 'met' : '**missed**'} |`),
    ...(r.mail
      ? ['', `Outbox drain: ${r.mail.drain.delivered} of a ${r.mail.drain.backlog}-message backlog delivered to the in-process SMTP server in ${fixed(r.mail.drain.seconds, 2)} s (${fixed(r.mail.drain.perSecond, 0)} messages/s, ${fixed(r.mail.drain.serverCpuUsPerMessage ?? NaN, 0)} µs server CPU each), ${r.mail.drain.duplicates} duplicates.`]
      : []),
    ...(r.process
      ? ['', `First start (generates the development key): ${fixed(r.process.firstStartWithKeyGenerationMs, 0)} ms; RSS after the run: ${fixed(r.process.rssAfterRunMb ?? NaN, 0)} MB.`]
      : []),
    ...(r.process?.tokenBytesByAlgorithm ? [`Access token bytes by algorithm: ${Object.entries(r.process.tokenBytesByAlgorithm).map(([alg, n]) => `${alg} ${n}`).join(', ')}.`] : []),
  ]
  return lines.join('\n')
}

export function printReport(r: Report): void {
  process.stdout.write(`${renderReport(r)}\n`)
}
