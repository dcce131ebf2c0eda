import { createReadStream } from 'node:fs'
import { openStore } from '../src/store/open-store.ts'
import { importUsers } from '../src/transfer/import-users.ts'

/**
 * A child of bench/import.ts, started with no Node flags: imports FILE into DATABASE_URL through
 * the same streaming import as `latchkey users import` and prints RSS samples as JSON.
 */
const [file, databaseUrl, mark] = process.argv.slice(2)
if (!file || !databaseUrl) throw new Error('usage: import-sampler.ts FILE DATABASE_URL [MARK_ROWS]')
const markRows = Number(mark ?? 100_000)
const mb = () => process.memoryUsage().rss / 1024 / 1024

const store = await openStore(databaseUrl)
const startRss = mb()
let atMark: number | null = null
let markSeconds = 0
let peakAfterMark = 0
let peak = startRss
const started = performance.now()
const report = await importUsers({
  input: createReadStream(file, { highWaterMark: 64 * 1024 }),
  format: 'ndjson',
  store: store.userTransfer,
  options: { onConflict: 'skip', dryRun: false, now: Date.now(), audit: { ip: null, userAgent: 'import-sampler', requestId: null } },
  onReject: (r) => {
    throw new Error(`unexpected reject on line ${r.line}: ${r.reason}`)
  },
  onProgress: (r) => {
    const rss = mb()
    peak = Math.max(peak, rss)
    if (atMark === null && r.read >= markRows) {
      atMark = rss
      markSeconds = (performance.now() - started) / 1000
    } else if (atMark !== null) {
      peakAfterMark = Math.max(peakAfterMark, rss)
    }
  },
})
const seconds = (performance.now() - started) / 1000
await store.close()
process.stdout.write(`${JSON.stringify({ rows: report.imported, seconds, startRss, atMark, markSeconds, peakAfterMark, peak, endRss: mb() })}\n`)
