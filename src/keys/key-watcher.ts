import { watch, type FSWatcher } from 'node:fs'
import { loadKeySet } from './key-files.ts'
import type { KeyRing } from './key-ring.ts'
import type { KeySet } from './key-set.ts'

/**
 * Keeps a running server's KeyRing in step with KEYS_DIR without a restart. Three triggers, because
 * each alone can miss: a file watch (fast, but lost on some filesystems and container mounts), a
 * periodic reload (bounds the delay at `intervalMs`) and an explicit `reload()` (SIGHUP). A key set
 * that fails to load — corrupt or half-written manifest, unreadable or weak PEM, kid mismatch, no
 * signing key — is logged and the last good set stays in force.
 */

export interface KeyWatcherLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface KeyWatcherOptions {
  dir: string
  ring: KeyRing
  logger: KeyWatcherLogger
  intervalMs: number
  /** Writers touch several files (PEM, temp manifest, rename): reload once they are done. */
  debounceMs?: number
  load?: (dir: string) => Promise<KeySet>
}

export interface KeyWatcher {
  /** Reloads now; resolves true when the ring holds what the directory says (changed or not). */
  reload(reason: string): Promise<boolean>
  close(): void
}

/** kid:state of every published key: equal signatures mean a reload changed nothing. */
function signature(set: KeySet): string {
  return set.records
    .filter((r) => r.state !== 'retired')
    .map((r) => `${r.kid}:${r.state}`)
    .sort()
    .join(',')
}

export function startKeyWatcher(options: KeyWatcherOptions): KeyWatcher {
  const { dir, ring, logger } = options
  const load = options.load ?? loadKeySet
  let inFlight: Promise<boolean> | null = null
  let queued: Promise<boolean> | null = null
  let debounce: NodeJS.Timeout | undefined
  let closed = false

  async function run(reason: string): Promise<boolean> {
    let next: KeySet
    try {
      next = await load(dir)
    } catch (err) {
      logger.error({ reason, keysDir: dir, error: (err as Error).message }, 'key set failed to load; keeping the last good one')
      return false
    }
    if (closed) return false
    if (signature(next) === signature(ring.current)) return true
    const before = signature(ring.current)
    ring.replace(next)
    logger.info({ reason, keysDir: dir, before, after: signature(next), signing: next.signing?.kid }, 'key set reloaded')
    return true
  }

  // One load at a time; triggers arriving meanwhile coalesce into a single follow-up load.
  function reload(reason: string): Promise<boolean> {
    if (!inFlight) {
      inFlight = run(reason).finally(() => {
        inFlight = null
      })
      return inFlight
    }
    queued ??= inFlight.then(() => {
      queued = null
      return reload(reason)
    })
    return queued
  }

  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(debounce)
      debounce = setTimeout(() => void reload('file change'), options.debounceMs ?? 100)
      debounce.unref()
    })
    watcher.on('error', (err) => {
      logger.warn({ keysDir: dir, error: err.message }, 'key directory watch failed; relying on the periodic reload')
      watcher?.close()
    })
  } catch (err) {
    logger.warn({ keysDir: dir, error: (err as Error).message }, 'cannot watch the key directory; relying on the periodic reload')
  }

  const timer = setInterval(() => void reload('periodic'), options.intervalMs)
  timer.unref()

  return {
    reload,
    close() {
      closed = true
      clearInterval(timer)
      clearTimeout(debounce)
      watcher?.close()
    },
  }
}
