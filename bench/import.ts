import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import bcrypt from '@node-rs/bcrypt'

/**
 * `npm run bench:import`: imports BENCH_IMPORT_ROWS (default 1,000,000) generated users with bcrypt
 * hashes into a fresh SQLite store and reports rows/s and RSS at 100k and at the end:
 * - in a child with no Node flags running the streaming import (bench/import-sampler.ts), sampled
 *   after every batch: RSS at 100k rows, and the highest RSS from there to the last row;
 * - `latchkey users import` itself (bin/latchkey.js, no flags), its RSS polled from /proc, on the
 *   first 100k rows and on the whole file.
 * Target (issue 21): RSS within 50 MB of its 100k-row value all the way to 1M rows.
 * Writes bench/results/<date>-import.json.
 */
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000)
const MARK = Math.min(100_000, ROWS)
const TARGET_MB = 50
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-import-'))
const log = (m: string) => process.stderr.write(`bench:import: ${m}\n`)

async function generate(file: string, rows: number, hashes: string[]): Promise<void> {
  const out = createWriteStream(file)
  for (let i = 0; i < rows; i++) {
    const line = `{"email":"user${i}@bench.example.com","email_verified":${i % 2 === 0},"created_at":"2024-03-0${1 + (i % 9)}T12:00:00Z","external_id":"bench|${i}","password_hash":"${hashes[i % hashes.length]}"}\n`
    if (!out.write(line)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

/** Runs a Node entry with no flags; returns stdout, seconds and the highest RSS seen (polled every 50 ms). */
async function runChild(args: string[], env: Record<string, string>): Promise<{ stdout: string; seconds: number; peakMb: number }> {
  const started = performance.now()
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  let peakMb = 0
  const timer = setInterval(() => {
    const rss = rssOf(child.pid!)
    if (rss !== null) peakMb = Math.max(peakMb, rss)
  }, 50)
  const [code] = (await once(child, 'close')) as [number | null]
  clearInterval(timer)
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)
  return { stdout, seconds: (performance.now() - started) / 1000, peakMb }
}

const round = (n: number) => Math.round(n * 10) / 10

try {
  log(`hashing 8 bcrypt passwords (cost 10), reused across ${ROWS.toLocaleString('en')} rows`)
  const hashes = await Promise.all(Array.from({ length: 8 }, (_, i) => bcrypt.hash(`bench password ${i}`, 10)))
  const full = join(dir, 'users.ndjson')
  const head = join(dir, 'users-100k.ndjson')
  await generate(full, ROWS, hashes)
  await generate(head, MARK, hashes)
  log('generated the files')

  log('streaming import in a flagless child, sampled per batch')
  const sampled = JSON.parse((await runChild([join(root, 'bench/import-sampler.ts'), full, `sqlite:${join(dir, 'sampled.db')}`, String(MARK)], {})).stdout) as {
    rows: number; seconds: number; startRss: number; atMark: number; markSeconds: number; peakAfterMark: number; peak: number
  }
  log(`  ${sampled.rows} rows in ${round(sampled.seconds)} s; RSS ${round(sampled.atMark)} MB at ${MARK}, peak ${round(sampled.peakAfterMark)} MB after`)

  const cli = async (file: string, db: string) =>
    runChild([join(root, 'bin/latchkey.js'), 'users', 'import', file], { DATABASE_URL: `sqlite:${join(dir, db)}`, KEYS_DIR: join(dir, 'keys') })
  log('latchkey users import, first 100k rows')
  const cliHead = await cli(head, 'cli-head.db')
  log('latchkey users import, every row')
  const cliFull = await cli(full, 'cli-full.db')
  if (!cliFull.stdout.includes(`imported ${ROWS},`)) throw new Error(`unexpected CLI report: ${cliFull.stdout}`)

  const growth = sampled.peakAfterMark - sampled.atMark
  const cliGrowth = cliFull.peakMb - cliHead.peakMb
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    rows: ROWS,
    hashes: 'bcrypt cost 10, 8 distinct reused',
    sampled: {
      rows_per_second: Math.round(sampled.rows / sampled.seconds),
      rows_per_second_first_100k: Math.round(MARK / sampled.markSeconds),
      rss_start_mb: round(sampled.startRss),
      rss_at_100k_mb: round(sampled.atMark),
      rss_peak_100k_to_end_mb: round(sampled.peakAfterMark),
      growth_100k_to_end_mb: round(growth),
    },
    cli: {
      rows_per_second: Math.round(ROWS / cliFull.seconds),
      peak_rss_100k_rows_mb: round(cliHead.peakMb),
      peak_rss_all_rows_mb: round(cliFull.peakMb),
      growth_mb: round(cliGrowth),
    },
    target: `RSS within ${TARGET_MB} MB of its 100k-row value up to ${ROWS} rows`,
    met: growth <= TARGET_MB && cliGrowth <= TARGET_MB,
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  if (ROWS === 1_000_000) writeFileSync(join(root, 'bench/results', `${result.date.slice(0, 10)}-import.json`), `${JSON.stringify(result, null, 2)}\n`)
  if (!result.met) process.exitCode = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
