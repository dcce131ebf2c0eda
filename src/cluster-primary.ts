import type { Cluster, Worker } from 'node:cluster'
import type { Logger } from 'pino'

export interface ClusterPrimaryOptions {
  cluster: Cluster
  workers: number
  logger: Logger
  /** How long workers get to finish in-flight requests after SIGTERM before they are killed. */
  shutdownTimeoutMs?: number
  /** Exits the primary; injected so the supervisor itself never calls process.exit. */
  exit: (code: number) => void
}

/**
 * The primary of `WORKERS=N`: forks N workers that each run the whole app on the shared listening
 * socket (node:cluster hands connections round-robin), replaces a worker that dies unexpectedly,
 * and on SIGTERM/SIGINT asks every worker to shut down gracefully and exits once they all have.
 * Returns the signal handler so the caller can wire it to process signals.
 */
export function runClusterPrimary(options: ClusterPrimaryOptions): (signal: string) => void {
  const { cluster, logger } = options
  let stopping = false
  // The workers whose process has not exited, kept here rather than read from `cluster.workers`:
  // node:cluster removes a worker from that list only once both its process has exited and its IPC
  // channel has closed, and the two events come in either order. Counting on the list when the last
  // 'exit' arrives missed, now and then, that every worker had stopped (3 of ~110 stops here), and
  // the primary waited for its deadline and exited 1.
  const live = new Set<Worker>()

  const fork = (): void => {
    live.add(cluster.fork())
  }
  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker)
    if (stopping) {
      if (live.size === 0) {
        logger.info('all workers stopped')
        options.exit(0)
      }
      return
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement')
    // A worker that dies during start would otherwise be re-forked in a tight loop.
    setTimeout(() => {
      if (!stopping) fork()
    }, 1000).unref()
  })
  for (let i = 0; i < options.workers; i++) fork()
  logger.info({ workers: options.workers }, 'cluster primary started')

  return (signal) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping workers')
    if (live.size === 0) return options.exit(0)
    // Each worker's own SIGTERM handler closes its listener, drains in-flight requests, closes the store.
    for (const worker of live) worker.process.kill('SIGTERM')
    setTimeout(() => {
      logger.error('workers did not stop in time; killing them')
      for (const worker of live) worker.process.kill('SIGKILL')
      options.exit(1)
    }, options.shutdownTimeoutMs ?? 15_000).unref()
  }
}
