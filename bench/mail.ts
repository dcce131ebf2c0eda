import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { measuringCpu, runInterleaved, runLoad, type LoadResult } from './load.ts'
import { cpuMicros, startProcess, type Running } from './processes.ts'
import type { Row, Target } from './report.ts'
import { startSmtpSink } from './smtp-sink.ts'

export interface MailBenchOptions {
  dir: string
  keysDir: string
  durationS: number
  warmupS: number
  rounds: number
  connections: number
  /** Processes started here are pushed, so the caller stops them on failure. */
  running: Running[]
  log(message: string): void
}

export interface MailBench {
  baseline: LoadResult
  rows: Row[]
  targets: Target[]
  drain: { backlog: number; delivered: number; seconds: number; perSecond: number; serverCpuUsPerMessage: number | null; duplicates: number }
}

// The same length, so the two request streams carry the same bytes.
const KNOWN = 'forgot-known@example.com'
const UNKNOWN = 'forgot-nobdy@example.com'
/** Delivered messages timed for the drain rate: the first this many of the backlog (a few seconds' worth). */
const DRAIN_SAMPLE = 3000

/**
 * The mail section of `npm run bench` (issue 17): the cost of POST /auth/password/forgot for a
 * registered and an unregistered address, interleaved with the /health/live baseline, and then the
 * rate at which the outbox those requests filled is drained to a local SMTP server.
 *
 * While the forgot rounds run, the SMTP sink withholds its answers: the drainer has one batch in
 * flight and waits, so those rows compare the request path alone (its lookup, transaction and audit
 * write), not the mail that a registered address also causes. That mail is the backlog timed next.
 */
export async function runMailBench(o: MailBenchOptions): Promise<MailBench> {
  const sink = await startSmtpSink()
  const dbFile = join(o.dir, 'mail-bench.db')
  const latchkey = await startProcess('bin/latchkey-server.js', '/health/ready', {
    DATABASE_URL: `sqlite:${dbFile}`,
    KEYS_DIR: o.keysDir,
    RATE_LIMIT_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    WORKERS: '1',
    SMTP_URL: sink.url,
    // Held sends must outlive the forgot rounds without timing out into retries.
    MAIL_SEND_TIMEOUT: '300',
  })
  o.running.push(latchkey)
  try {
    const L = latchkey.base
    const pid = latchkey.child.pid
    const registered = await fetch(`${L}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: KNOWN, password: 'correct horse battery staple' }) })
    if (registered.status !== 201) throw new Error(`register → ${registered.status}`)
    sink.hold = true

    const forgot = (email: string) => (duration: number) =>
      runLoad({ url: `${L}/auth/password/forgot`, connections: o.connections, duration, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) })
    const scenarios = {
      baseline: measuringCpu(pid, (duration) => runLoad({ url: `${L}/health/live`, connections: o.connections, duration })),
      known: measuringCpu(pid, forgot(KNOWN)),
      unknown: measuringCpu(pid, forgot(UNKNOWN)),
    }
    for (const run of Object.values(scenarios)) await run(o.warmupS)
    o.log(`mail: POST /auth/password/forgot, registered vs unregistered address, interleaved with the baseline: ${o.rounds} rounds × ${o.durationS / o.rounds} s each`)
    const g = await runInterleaved(scenarios, o.durationS, o.rounds)
    for (const [name, r] of Object.entries(g)) o.log(`mail ${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.serverCpuUs?.toFixed(0) ?? '–'} µs CPU/req`)
    const { baseline, known, unknown } = g as Record<keyof typeof scenarios, LoadResult>

    // The requests queue their mail after answering: let the last ones land before counting.
    await new Promise((r) => setTimeout(r, 500))
    const db = new DatabaseSync(dbFile, { readOnly: true })
    const backlog = Number((db.prepare("SELECT COUNT(*) AS n FROM outbox_messages WHERE status = 'pending'").get() as { n: number }).n)
    db.close()
    const target = Math.min(backlog, DRAIN_SAMPLE)
    o.log(`mail: draining the first ${target} of ${backlog} queued messages to the local SMTP server`)
    const cpuBefore = pid === undefined ? null : cpuMicros(pid)
    const started = performance.now()
    sink.release()
    await sink.waitForAccepted(target, 120_000)
    const seconds = (performance.now() - started) / 1000
    const cpuAfter = pid === undefined ? null : cpuMicros(pid)
    const delivered = sink.accepted
    const drain = {
      backlog,
      delivered,
      seconds,
      perSecond: target / seconds,
      serverCpuUsPerMessage: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / delivered,
      duplicates: delivered - sink.messageIds.size,
    }
    o.log(`mail: ${target} messages in ${seconds.toFixed(2)} s (${drain.perSecond.toFixed(0)} messages/s), ${drain.duplicates} duplicate Message-IDs`)

    const cpuRatio = (known.serverCpuUs ?? NaN) / (unknown.serverCpuUs ?? NaN)
    const rows: Row[] = [
      { scenario: 'mail instance: latchkey GET /health/live (baseline of the forgot rows)', result: baseline },
      { scenario: 'POST /auth/password/forgot, unregistered address', result: unknown },
      { scenario: 'POST /auth/password/forgot, registered address (mail queued, delivery held)', result: known, reference: { name: 'unregistered address', rps: unknown.rps } },
    ]
    const within = (x: number, tolerance: number) => Math.abs(x - 1) <= tolerance
    const targets: Target[] = [
      { name: 'forgot: registered vs unregistered address, req/s', target: '1.00 ± 0.10×', value: known.rps / unknown.rps, unit: '×', met: within(known.rps / unknown.rps, 0.1) },
      { name: 'forgot: registered vs unregistered address, p50 latency', target: '1.00 ± 0.10×', value: known.p50 / unknown.p50, unit: '×', met: within(known.p50 / unknown.p50, 0.1) },
      { name: 'forgot: registered vs unregistered address, server CPU/req', target: '1.00 ± 0.10×', value: cpuRatio, unit: '×', met: within(cpuRatio, 0.1) },
      { name: 'outbox drain rate to a local SMTP server (SQLite, one process)', target: '≥ 100 messages/s', value: drain.perSecond, unit: 'messages/s', met: drain.perSecond >= 100 },
      { name: 'messages delivered twice during the drain', target: '0', value: drain.duplicates, unit: '', met: drain.duplicates === 0 },
    ]
    return { baseline, rows, targets, drain }
  } finally {
    sink.release()
    await latchkey.stop()
    o.running.splice(o.running.indexOf(latchkey), 1)
    await sink.close()
  }
}
