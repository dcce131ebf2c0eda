import { randomFill } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { setPriority } from 'node:os'

/** What libuv names its thread-pool threads (libuv 1.51, Node 24; older runtimes name them all `node`). */
const POOL_THREAD_NAME = 'libuv-worker'

export interface ThreadPoolPriority {
  /** Threads whose nice value was set. */
  threads: number
  /** Why nothing was changed, when nothing was. */
  skipped?: string
  /** Nothing was changed where it should have been (Linux, enabled): worth a warning. */
  unexpected?: boolean
}

/**
 * Gives libuv's thread pool — where argon2 hashes and access tokens are signed — a lower CPU
 * priority (a higher nice value) than the event loop. A login storm then takes only the CPU the
 * event loop leaves: the stateless verification path keeps its latency instead of queueing behind
 * hashes for a scheduler time slice, while hashes still use every idle core. On Linux the nice value
 * belongs to each thread, so the pool's threads are found by name under /proc/self/task; elsewhere
 * nothing changes. Call once at start: libuv creates the whole pool on its first task.
 */
export async function lowerThreadPoolPriority(nice: number): Promise<ThreadPoolPriority> {
  if (nice <= 0) return { threads: 0, skipped: 'disabled' }
  if (process.platform !== 'linux') return { threads: 0, skipped: `per-thread priority is Linux-only (${process.platform})` }
  // Any pool task starts the pool; this one is tiny.
  await new Promise((resolve) => randomFill(Buffer.alloc(1), resolve))
  let tids: string[]
  try {
    tids = readdirSync('/proc/self/task')
  } catch {
    return { threads: 0, skipped: '/proc/self/task is not readable', unexpected: true }
  }
  let threads = 0
  for (const tid of tids) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== POOL_THREAD_NAME) continue
      setPriority(Number(tid), nice)
      threads++
    } catch {
      // A thread that ended meanwhile, or a sandbox that refuses: the others still count.
    }
  }
  return threads > 0 ? { threads } : { threads: 0, skipped: `no thread named ${POOL_THREAD_NAME} found`, unexpected: true }
}
