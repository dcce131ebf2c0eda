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

  const fork = (): Worker => cluster.fork()
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('all workers stopped')
        options.exit(0)
      }
      return
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a replacement')
    // A worker that dies during start would otherwise be re-forked in a tight loop.
    setTimeout(fork, 1000).unref()
  })
  for (let i = 0; i < options.workers; i++) fork()
  logger.info({ workers: options.workers }, 'cluster primary started')

  return (signal) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping workers')
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    if (live.length === 0) return options.exit(0)
    // Each worker's own SIGTERM handler closes its listener, drains in-flight requests, closes the store.
    for (const worker of live) worker.process.kill('SIGTERM')
    setTimeout(() => {
      logger.error('workers did not stop in time; killing them')
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL')
      options.exit(1)
    }, options.shutdownTimeoutMs ?? 15_000).unref()
  }
}
