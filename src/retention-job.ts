import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from './clock.ts'
import type { Metrics } from './metrics.ts'
import type { PurgeInput, PurgeResult } from './store/retention.ts'
import type { Store } from './store/store.ts'

const DAY = 86_400_000
/**
 * Expired MFA and WebAuthn challenges stay a day: a late answer still gets its precise refusal
 * (expired, locked, used) rather than "unknown", and nothing in them is worth keeping longer.
 */
export const CHALLENGE_RETENTION_MS = DAY
/** Sent mail, mail that can no longer be sent, and expired link tokens stay a week: what `latchkey outbox list` shows. */
export const MAIL_RETENTION_MS = 7 * DAY

export interface RetentionPolicy {
  /** Ended sessions (with their refresh tokens) are kept this many days after they ended. */
  sessionRetentionDays: number
  batchSize: number
}

/** The cut-offs of a purge at `now`. */
export function purgeInput(now: number, policy: RetentionPolicy): PurgeInput {
  return {
    sessionsEndedBefore: now - policy.sessionRetentionDays * DAY,
    challengesExpiredBefore: now - CHALLENGE_RETENTION_MS,
    oneTimeTokensExpiredBefore: now - MAIL_RETENTION_MS,
    mailSentBefore: now - MAIL_RETENTION_MS,
    mailExpiredBefore: now - MAIL_RETENTION_MS,
    batchSize: policy.batchSize,
  }
}

export interface RetentionDeps {
  store: Pick<Store, 'retention'>
  clock: Clock
  logger?: FastifyBaseLogger | undefined
  metrics?: Pick<Metrics, 'purgedRows' | 'purgeFailures'> | undefined
  policy: RetentionPolicy
}

/** One purge: deletes what the policy lets go, counts it by kind and logs one line (counts only). */
export async function purgeOnce(deps: RetentionDeps, signal?: AbortSignal): Promise<PurgeResult & { durationMs: number }> {
  const started = performance.now()
  const result = await deps.store.retention.purge({
    ...purgeInput(deps.clock.now(), deps.policy),
    ...(signal ? { signal } : {}),
    // Counted batch by batch, so a run stopped half-way still shows what it deleted.
    ...(deps.metrics ? { onBatch: (kind, rows) => deps.metrics!.purgedRows.inc({ kind }, rows) } : {}),
  })
  const durationMs = Math.round(performance.now() - started)
  if (!result.ran) deps.logger?.info('retention: another instance is purging; skipped this run')
  else deps.logger?.info({ purged: result.counts, durationMs, retentionDays: deps.policy.sessionRetentionDays, stopped: signal?.aborted === true }, 'retention: purged ended sessions and expired rows')
  return { ...result, durationMs }
}

export interface RetentionJob {
  /** Runs now and then every interval after each run ends; the first run waits `firstDelayMs`. */
  start(): void
  /** Stops the schedule; a run under way stops after its current batch. */
  stop(): Promise<void>
}

/**
 * The server's purge timer. Runs never overlap in a process; across instances PostgreSQL's advisory
 * lock lets one run at a time, and on a shared SQLite file a second run only finds less to delete.
 * The first run is delayed (with jitter) so a fleet restarted together does not purge in step
 * with its own start-up.
 */
export function createRetentionJob(deps: RetentionDeps & { intervalMs: number; firstDelayMs?: number }): RetentionJob {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let controller: AbortController | undefined
  let stopped = true

  function schedule(delay: number): void {
    if (stopped) return
    timer = setTimeout(run, delay)
    timer.unref()
  }

  function run(): void {
    controller = new AbortController()
    running = purgeOnce(deps, controller.signal)
      .catch((err: unknown) => {
        deps.metrics?.purgeFailures.inc()
        deps.logger?.error({ reason: err instanceof Error ? err.message : String(err) }, 'retention: purge failed; trying again at the next interval')
      })
      .finally(() => {
        running = undefined
        schedule(deps.intervalMs)
      })
  }

  return {
    start() {
      if (!stopped || deps.intervalMs <= 0) return
      stopped = false
      schedule(deps.firstDelayMs ?? Math.min(deps.intervalMs, 60_000) * (0.5 + Math.random() / 2))
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      controller?.abort()
      await running
    },
  }
}
