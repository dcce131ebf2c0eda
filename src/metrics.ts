import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type PrometheusContentType } from 'prom-client'
import type { MetricsSource } from './metrics-listener.ts'
import { AUDIT_EVENT_TYPES } from './store/store.ts'

/**
 * The Prometheus metrics Latchkey keeps (the README's "Metrics" section describes each). One registry per app, so
 * tests and several apps in one process never share counters.
 */
export interface Metrics {
  readonly registry: Registry
  readonly auditEvents: Counter<'type'>
  readonly authFailures: Counter<'status' | 'code'>
  readonly signDuration: Histogram
  readonly verifyDuration: Histogram
  readonly argon2Duration: Histogram
  readonly refreshRotations: Counter
  readonly reuseDetections: Counter
  /**
   * Adds `latchkey_active_sessions`: sessions neither revoked nor expired, counted by the store when
   * Prometheus scrapes (one COUNT query per scrape, nothing per request). Workers share one store,
   * so the cluster aggregate takes one worker's answer instead of summing them.
   */
  trackActiveSessions(count: () => Promise<number>): void
  /** Mail handed to the SMTP server (or written to MAIL_DIR), by template. */
  readonly mailSent: Counter<'template'>
  /** Failed send attempts, by template and what follows (`retry` later or `gave_up`). */
  readonly mailFailures: Counter<'template' | 'outcome'>
  /**
   * Adds `latchkey_outbox_depth` (mail waiting to be sent) and `latchkey_outbox_oldest_pending_age_seconds`,
   * read from the store at scrape time like the active sessions.
   */
  trackOutbox(stats: () => Promise<{ pending: number; oldestPendingAgeSeconds: number }>): void
}

export interface MetricsOptions {
  /** Also export Node process metrics (CPU, memory, event-loop lag); off in tests. */
  processMetrics?: boolean
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'latchkey_' })
  const registers = [registry]

  const auditEvents = new Counter({
    name: 'latchkey_audit_events_total',
    help: 'Security events written to the audit log, by type',
    labelNames: ['type'] as const,
    registers,
  })
  // Every type starts at 0, so rate() and alerts work before the first event of a kind.
  for (const type of AUDIT_EVENT_TYPES) auditEvents.inc({ type }, 0)

  // Read once per scrape by both outbox gauges.
  let outboxStats: (() => Promise<{ pending: number; oldestPendingAgeSeconds: number }>) | undefined
  let outboxRead: Promise<{ pending: number; oldestPendingAgeSeconds: number }> | undefined
  const readOutbox = () => {
    outboxRead ??= withTimeout(outboxStats!()).finally(() => setTimeout(() => (outboxRead = undefined), 100).unref())
    return outboxRead
  }

  return {
    registry,
    auditEvents,
    mailSent: new Counter({ name: 'latchkey_mail_sent_total', help: 'Mail handed to the SMTP server (or written to MAIL_DIR), by template', labelNames: ['template'] as const, registers }),
    mailFailures: new Counter({
      name: 'latchkey_mail_failures_total',
      help: 'Failed mail send attempts, by template and outcome (retry: tried again later; gave_up: no attempt left)',
      labelNames: ['template', 'outcome'] as const,
      registers,
    }),
    trackOutbox(stats) {
      outboxStats = stats
      new Gauge({
        name: 'latchkey_outbox_depth',
        help: 'Mail waiting in the outbox to be sent, not expired (read from the store at scrape time)',
        registers,
        aggregator: 'first',
        async collect() {
          try {
            this.set((await readOutbox()).pending)
          } catch {
            // the last value stands
          }
        },
      })
      new Gauge({
        name: 'latchkey_outbox_oldest_pending_age_seconds',
        help: 'Age of the oldest mail waiting in the outbox; 0 when it is empty',
        registers,
        aggregator: 'first',
        async collect() {
          try {
            this.set((await readOutbox()).oldestPendingAgeSeconds)
          } catch {
            // the last value stands
          }
        },
      })
    },
    trackActiveSessions(count) {
      new Gauge({
        name: 'latchkey_active_sessions',
        help: 'Refresh sessions neither revoked nor expired (read from the store at scrape time)',
        registers,
        aggregator: 'first',
        // A store outage must not fail the whole scrape (it is when metrics matter most): the gauge
        // keeps its last value for at most 1 s of waiting, and the other metrics are served as usual.
        async collect() {
          try {
            this.set(await Promise.race([count(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref())]))
          } catch {
            // the last value stands
          }
        },
      })
    },
    authFailures: new Counter({
      name: 'latchkey_auth_failures_total',
      help: '401 and 403 responses, by status and problem code (e.g. invalid_token, token_expired, insufficient_scope)',
      labelNames: ['status', 'code'] as const,
      registers,
    }),
    signDuration: new Histogram({
      name: 'latchkey_token_sign_duration_seconds',
      help: 'Time to sign one access token (RS256)',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05],
      registers,
    }),
    verifyDuration: new Histogram({
      name: 'latchkey_token_verify_duration_seconds',
      help: 'Time to verify one access token (parse, policy and RS256 signature), failures included',
      buckets: [0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.0025, 0.01],
      registers,
    }),
    argon2Duration: new Histogram({
      name: 'latchkey_argon2_duration_seconds',
      help: 'Time of one argon2id hash or verify on the thread pool (time waiting in the bounded queue excluded)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    refreshRotations: new Counter({
      name: 'latchkey_refresh_rotations_total',
      help: 'Refresh tokens rotated (grace-window retries not included)',
      registers,
    }),
    reuseDetections: new Counter({
      name: 'latchkey_refresh_reuse_detections_total',
      help: 'Reuse of an already rotated refresh token detected; each revoked a session',
      registers,
    }),
  }
}

function withTimeout<T>(work: Promise<T>): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000).unref())])
}

/**
 * In a cluster worker: answer the primary's requests for this registry, so the primary can serve
 * one /metrics summed over every worker (prom-client's AggregatorRegistry protocol over IPC).
 */
export function shareWithClusterPrimary(metrics: Metrics): void {
  AggregatorRegistry.setRegistries([metrics.registry])
  new AggregatorRegistry() // installs the worker's IPC listener
}

/** In the cluster primary: every worker's metrics, aggregated on each scrape. */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry<PrometheusContentType>()
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() }
}

