import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type PrometheusContentType } from 'prom-client'
import type { MetricsSource } from './metrics-listener.ts'
import type { KeyRecord } from './keys/key-set.ts'
import { PURGE_KINDS } from './store/retention.ts'
import { AUDIT_EVENT_TYPES } from './store/store.ts'

/**
 * The Prometheus metrics Latchkey keeps (docs/operations.md, "Metrics", describes each). One registry per app, so
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
  /** WebAuthn ceremonies by kind (register, login) and outcome (`ok` or the problem code). */
  readonly passkeyCeremonies: Counter<'ceremony' | 'outcome'>
  /** Second-factor events (issue 18): challenge issued, success, failure, lockout, account_lockout, account_locked_refusal. */
  readonly mfaEvents: Counter<'event'>
  /** Imported password hashes upgraded to argon2id at sign-in, by the algorithm they had. */
  readonly legacyPasswordUpgrades: Counter<'algorithm'>
  /** Rows the retention job deleted, by kind (store/retention.ts PURGE_KINDS). */
  readonly purgedRows: Counter<'kind'>
  /** Scheduled purge runs that failed (the server's retention job; `latchkey purge` reports by its exit code). */
  readonly purgeFailures: Counter
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
  /**
   * One finished HTTP request: `latchkey_http_requests_total{status_class}` and
   * `latchkey_http_request_duration_seconds{route}` (route = the registered pattern, `unmatched` for
   * a 404 that matched none). Children are cached per route, so a request costs two Map lookups.
   */
  observeRequest(route: string | undefined, status: number, seconds: number): void
  /**
   * Adds `latchkey_signing_keys{state}` (keys in KEYS_DIR by state: next, current, previous) and
   * `latchkey_signing_key_age_seconds` (how long the current key has signed), read at scrape time
   * from the key set in force, so alerts see a missing next key or an overdue rotation.
   */
  trackSigningKeys(records: () => readonly KeyRecord[], now: () => number): void
  /**
   * Adds `latchkey_dependency_up{dependency}`: 1 when the readiness check of the store (or Redis)
   * passes at scrape time, 0 when it fails or takes over a second.
   */
  trackDependencies(checks: ReadonlyArray<{ name: string; check: () => Promise<void> }>): void
}

const KEY_STATES = ['next', 'current', 'previous'] as const
const MFA_EVENTS = ['challenge', 'success', 'failure', 'lockout', 'account_lockout', 'account_locked_refusal'] as const
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

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

  const purgedRows = new Counter({
    name: 'latchkey_purged_rows_total',
    help: 'Rows deleted by the retention job, by kind (refresh_tokens, sessions, mfa_challenges, webauthn_challenges, one_time_tokens, outbox_messages)',
    labelNames: ['kind'] as const,
    registers,
  })
  for (const kind of PURGE_KINDS) purgedRows.inc({ kind }, 0)
  const purgeFailures = new Counter({
    name: 'latchkey_purge_failures_total',
    help: 'Scheduled retention purges that failed (each is logged as "retention: purge failed")',
    registers,
  })

  const mfaEvents = new Counter({
    name: 'latchkey_mfa_events_total',
    help: 'Second-factor events: challenge (a sign-in asked for a code), success, failure (wrong or replayed code), lockout (of a challenge), account_lockout (MFA_ACCOUNT_MAX_FAILURES reached), account_locked_refusal (a code refused unchecked while the account is locked)',
    labelNames: ['event'] as const,
    registers,
  })
  // From 0 like the audit types: increase() then sees the first account lockout after a start.
  for (const event of MFA_EVENTS) mfaEvents.inc({ event }, 0)

  const httpRequests = new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP responses sent by the API listener, by status class (1xx … 5xx)',
    labelNames: ['status_class'] as const,
    registers,
  })
  // Every class starts at 0, so an error-ratio alert has a denominator before the first 5xx.
  const byClass = STATUS_CLASSES.map((status_class) => {
    httpRequests.inc({ status_class }, 0)
    return httpRequests.labels({ status_class })
  })
  const httpDuration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'Time from the request reaching Fastify to the response being written, by route pattern',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  })
  const byRoute = new Map<string, ReturnType<typeof httpDuration.labels>>()

  return {
    registry,
    auditEvents,
    purgedRows,
    purgeFailures,
    mfaEvents,
    observeRequest(route, status, seconds) {
      byClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!.inc()
      const key = route ?? 'unmatched'
      let child = byRoute.get(key)
      if (!child) byRoute.set(key, (child = httpDuration.labels({ route: key })))
      child.observe(seconds)
    },
    trackSigningKeys(records, now) {
      new Gauge({
        name: 'latchkey_signing_keys',
        help: 'Signing keys in the key set in force, by state (next, current, previous)',
        labelNames: ['state'] as const,
        registers,
        aggregator: 'first',
        collect() {
          const keys = records()
          for (const state of KEY_STATES) this.set({ state }, keys.filter((k) => k.state === state).length)
        },
      })
      new Gauge({
        name: 'latchkey_signing_key_age_seconds',
        help: 'Seconds since the current signing key was activated (created, for a first key never rotated in)',
        registers,
        aggregator: 'first',
        collect() {
          const current = records().find((k) => k.state === 'current')
          if (!current) return this.set(0)
          const since = Date.parse(current.activatedAt ?? current.createdAt)
          this.set(Number.isFinite(since) ? Math.max(0, (now() - since) / 1000) : 0)
        },
      })
    },
    trackDependencies(checks) {
      new Gauge({
        name: 'latchkey_dependency_up',
        help: 'Whether a dependency answers its readiness check at scrape time (1) or not (0), by dependency (store, redis)',
        labelNames: ['dependency'] as const,
        registers,
        aggregator: 'min',
        async collect() {
          await Promise.all(
            checks.map(async ({ name, check }) => {
              try {
                await withTimeout(check())
                this.set({ dependency: name }, 1)
              } catch {
                this.set({ dependency: name }, 0)
              }
            }),
          )
        },
      })
    },
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
    passkeyCeremonies: new Counter({
      name: 'latchkey_passkey_ceremonies_total',
      help: 'Passkey (WebAuthn) ceremonies, by ceremony (register, login) and outcome (ok, or the problem code)',
      labelNames: ['ceremony', 'outcome'] as const,
      registers,
    }),
    legacyPasswordUpgrades: new Counter({
      name: 'latchkey_legacy_password_upgrades_total',
      help: 'Imported password hashes replaced by argon2id at sign-in, by the algorithm they had',
      labelNames: ['algorithm'] as const,
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

