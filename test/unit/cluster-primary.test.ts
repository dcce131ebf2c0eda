import type { Cluster, Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runClusterPrimary } from '../../src/cluster-primary.ts'
import { createLogger } from '../../src/logger.ts'

/**
 * node:cluster's primary as the supervisor sees it, with the one behaviour that matters here made
 * explicit: an exited worker stays in `cluster.workers` until its IPC channel has closed too, and
 * node emits 'exit' and 'disconnect' in either order. The real thing is exercised end to end in
 * test/server/cluster.test.ts, where that order cannot be chosen.
 */
function fakeCluster() {
  const cluster = new EventEmitter() as EventEmitter & { workers: Record<string, Worker>; fork: () => Worker }
  const signals: Array<{ id: number; signal: string }> = []
  let nextId = 1
  cluster.workers = {}
  cluster.fork = () => {
    const id = nextId++
    const worker = { id, process: { pid: 1000 + id, kill: (signal: string) => signals.push({ id, signal }) } } as unknown as Worker
    cluster.workers[id] = worker
    return worker
  }
  /** The worker's process exits; it stays listed, as until its IPC channel closes. */
  const exitWithChannelOpen = (id: number, code = 0) => cluster.emit('exit', cluster.workers[id], code, null)
  return { cluster: cluster as unknown as Cluster, signals, exitWithChannelOpen, forked: () => nextId - 1 }
}

const logger = createLogger('silent')

afterEach(() => {
  vi.useRealTimers()
})

describe('cluster primary', () => {
  it('exits 0 once every worker has exited after SIGTERM, while node:cluster still lists them', () => {
    const { cluster, signals, exitWithChannelOpen } = fakeCluster()
    const exit = vi.fn()
    const stop = runClusterPrimary({ cluster, workers: 2, logger, exit })
    stop('SIGTERM')
    expect(signals).toEqual([
      { id: 1, signal: 'SIGTERM' },
      { id: 2, signal: 'SIGTERM' },
    ])
    exitWithChannelOpen(1)
    expect(exit).not.toHaveBeenCalled()
    exitWithChannelOpen(2)
    expect(exit).toHaveBeenCalledExactlyOnceWith(0)
  })

  it('kills the workers still running at the deadline and exits 1', () => {
    vi.useFakeTimers()
    const { cluster, signals, exitWithChannelOpen } = fakeCluster()
    const exit = vi.fn()
    const stop = runClusterPrimary({ cluster, workers: 2, logger, exit, shutdownTimeoutMs: 1000 })
    stop('SIGTERM')
    exitWithChannelOpen(1)
    vi.advanceTimersByTime(1000)
    expect(signals.filter((s) => s.signal === 'SIGKILL')).toEqual([{ id: 2, signal: 'SIGKILL' }])
    expect(exit).toHaveBeenCalledExactlyOnceWith(1)
  })

  it('replaces a worker that dies, but not once stopping has begun', () => {
    vi.useFakeTimers()
    const { cluster, exitWithChannelOpen, forked } = fakeCluster()
    const exit = vi.fn()
    const stop = runClusterPrimary({ cluster, workers: 2, logger, exit })
    exitWithChannelOpen(1, 1)
    vi.advanceTimersByTime(1000)
    expect(forked()).toBe(3) // the replacement

    exitWithChannelOpen(2, 1) // dies; its replacement is due in 1 s
    stop('SIGTERM')
    exitWithChannelOpen(3)
    expect(exit).toHaveBeenCalledExactlyOnceWith(0)
    vi.advanceTimersByTime(1000)
    expect(forked()).toBe(3) // no worker started after the stop
  })
})
