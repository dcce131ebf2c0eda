import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export interface MemoryTrim {
  rssBeforeMb: number
  rssAfterMb: number
  ms: number
}

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void

/**
 * One full garbage collection in V8's memory-reducing mode, run once after start-up and before the
 * server listens. Loading and type-stripping the modules leaves tens of megabytes of garbage and a
 * young generation grown to its maximum for that burst; an idle instance would keep both resident
 * until load came. The young generation grows back under load, as it should; this only stops an
 * idle process from holding start-up's high-water mark. Costs one pause of a few tens of
 * milliseconds, before any request can arrive.
 */
export function trimStartupMemory(): MemoryTrim {
  const rssBefore = process.memoryUsage.rss()
  const started = performance.now()
  // The gc() of --expose-gc, fetched without exposing it to the whole process.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as GcFunction
  setFlagsFromString('--no-expose-gc')
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
  return { rssBeforeMb: mb(rssBefore), rssAfterMb: mb(process.memoryUsage.rss()), ms: Math.round(performance.now() - started) }
}
