import { Worker } from 'node:worker_threads'

export interface WalCheckpointerOptions {
  /** The database file (WAL mode). */
  path: string
  /** How often the thread copies committed WAL frames into the database file. */
  intervalMs: number
  /** A checkpoint failed for a reason other than another connection's lock, or the thread stopped. */
  onError: (err: Error) => void
  /** First wait before starting a thread again after it stopped on its own (default 1 s). */
  restartDelayMs?: number
}

/** Each restart in a row waits twice as long as the one before, up to this. */
const MAX_RESTART_DELAY_MS = 60_000

export interface WalCheckpointer {
  close(): Promise<void>
}

/**
 * The thread's whole program, run as CommonJS (`eval`), so it loads nothing of ours. A PASSIVE
 * checkpoint copies what no reader still needs, never waits for a lock and never blocks a writer;
 * SQLITE_BUSY (another process's checkpoint is running, in a cluster) just waits for the next tick.
 */
const THREAD_PROGRAM = `
const { parentPort, workerData } = require('node:worker_threads')
const { DatabaseSync } = require('node:sqlite')
const db = new DatabaseSync(workerData.path)
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
setInterval(() => {
  try {
    checkpoint.get()
  } catch (err) {
    if (!/busy|locked/i.test(String(err && err.message))) parentPort.postMessage(String(err && err.message))
  }
}, workerData.intervalMs)
`

/**
 * Runs the SQLite store's WAL checkpoints on a thread of its own. A checkpoint copies the WAL's
 * pages into the database file and fsyncs both; inline, SQLite runs one inside whichever COMMIT
 * crosses the threshold, and under a stream of refreshes that stalled the event loop for a few
 * milliseconds every ~150 rotations (2 fsyncs of 1–4 ms each here, on ext4, plus the copy). Here
 * the event loop only appends to the WAL. The thread costs ~18 MB (an isolate of its own), so the
 * store starts it with the first write transaction: an instance that never writes never pays it.
 *
 * A thread that stops on its own (it could not open the file, it ran out of its small heap) is
 * reported and started again after `restartDelayMs`, doubling for each restart in a row up to a
 * minute, back to the first delay once a thread has lived longer than that. Meanwhile the writer's
 * own checkpoints (the store's safety net) keep the WAL bounded.
 */
export function startWalCheckpointer(options: WalCheckpointerOptions): WalCheckpointer {
  const firstDelayMs = options.restartDelayMs ?? 1000
  let delayMs = firstDelayMs
  let closed = false
  let worker: Worker | undefined
  let restart: NodeJS.Timeout | undefined

  function start(): void {
    const startedAt = performance.now()
    const thread = new Worker(THREAD_PROGRAM, {
      eval: true,
      workerData: { path: options.path, intervalMs: options.intervalMs },
      // It holds one statement and no data: a small heap is plenty.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
      stdout: false,
      stderr: false,
    })
    // Never what keeps the process alive; close() ends it with the store.
    thread.unref()
    thread.on('message', (message: string) => options.onError(new Error(`WAL checkpoint failed: ${message}`)))
    thread.on('error', (err) => options.onError(err))
    thread.on('exit', (code) => {
      if (closed) return
      if (performance.now() - startedAt > MAX_RESTART_DELAY_MS) delayMs = firstDelayMs
      options.onError(new Error(`WAL checkpoint thread stopped (exit code ${code}); starting it again in ${delayMs} ms`))
      restart = setTimeout(start, delayMs)
      restart.unref()
      delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS)
    })
    worker = thread
  }

  start()
  return {
    async close() {
      closed = true
      clearTimeout(restart)
      await worker?.terminate()
    },
  }
}
