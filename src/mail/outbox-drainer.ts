import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.ts'
import type { Metrics } from '../metrics.ts'
import type { OutboxMessage } from '../store/outbox.ts'
import type { Store } from '../store/store.ts'
import { renderMail, type MailTemplates } from './templates.ts'
import type { MailTransport } from './transport.ts'

export interface OutboxDrainerOptions {
  store: Pick<Store, 'outbox'>
  transport: MailTransport
  templates: MailTemplates
  clock: Clock
  logger: FastifyBaseLogger
  metrics?: Pick<Metrics, 'mailSent' | 'mailFailures'>
  /** How often the outbox is looked at when nothing kicks the drainer (ms). */
  pollIntervalMs?: number
  /** Rows claimed (and sent concurrently) at a time. */
  batchSize?: number
  /** A claimed row stays invisible to other drainers this long: well beyond one send's timeout. */
  leaseMs: number
  /** Attempts before a message is given up (status failed; `latchkey outbox retry` revives it). */
  maxAttempts?: number
  /** First retry delay; doubled per attempt up to maxBackoffMs, with ±20 % jitter. */
  baseBackoffMs?: number
  maxBackoffMs?: number
}

export interface OutboxDrainer {
  start(): void
  /** Look now (a flow just queued mail) instead of at the next poll. */
  kick(): void
  /** One pass: claims and sends until nothing is due; returns how many were sent. */
  drainOnce(): Promise<number>
  /** Stops polling and waits for the pass under way. */
  stop(): Promise<void>
}

/** The delay before attempt `attempts + 1`: exponential, capped, jittered so a backlog does not retry in lockstep. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1))
  return Math.round(exponential * (0.8 + 0.4 * random()))
}

/**
 * Drains the outbox: claim due rows (store/outbox.ts), render, send, mark each sent — or record the
 * error and schedule the next attempt. A crash after the SMTP server accepted a message and before
 * it is marked sent is the one window where a message goes out twice; the lease makes it
 * recoverable rather than lost, and the Message-ID (the row id) lets a receiver drop the copy.
 */
export function createOutboxDrainer(options: OutboxDrainerOptions): OutboxDrainer {
  const { store, transport, templates, clock, logger, metrics } = options
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const batchSize = options.batchSize ?? 16
  const maxAttempts = options.maxAttempts ?? 10
  const baseBackoffMs = options.baseBackoffMs ?? 5000
  const maxBackoffMs = options.maxBackoffMs ?? 30 * 60_000

  let running = false
  let stopping = false
  let timer: NodeJS.Timeout | undefined
  let pass: Promise<unknown> | undefined
  let again = false
  let lastErrorLog = 0

  async function sendOne(message: OutboxMessage, claimId: string): Promise<boolean> {
    try {
      const rendered = renderMail(templates, message.template, message.data)
      await transport.send({ ...rendered, id: message.id, to: message.recipient, ...(message.data.link ? { link: message.data.link } : {}) })
    } catch (err) {
      const error = describe(err)
      const giveUp = message.attempts >= maxAttempts
      const now = clock.now()
      const retryAt = giveUp ? null : now + backoffMs(message.attempts, baseBackoffMs, maxBackoffMs)
      metrics?.mailFailures.inc({ template: message.template, outcome: giveUp ? 'gave_up' : 'retry' })
      logger[giveUp ? 'error' : 'warn']({ messageId: message.id, template: message.template, attempts: message.attempts, reason: error, retryAt }, giveUp ? 'mail: giving up on a message' : 'mail: send failed; will retry')
      await store.outbox.markFailed(message.id, claimId, { now, error, retryAt })
      return false
    }
    metrics?.mailSent.inc({ template: message.template })
    if (!(await store.outbox.markSent(message.id, claimId, clock.now()))) {
      // Our lease ran out before the send finished and someone else may have sent it too.
      logger.warn({ messageId: message.id }, 'mail: sent after its claim lapsed; another drainer may also have sent it (raise MAIL_SEND_TIMEOUT?)')
    } else {
      logger.debug({ messageId: message.id, template: message.template, attempts: message.attempts }, 'mail sent')
    }
    return true
  }

  async function drainOnce(): Promise<number> {
    let sent = 0
    for (;;) {
      const claimId = randomUUID()
      const batch = await store.outbox.claim({ now: clock.now(), limit: batchSize, leaseMs: options.leaseMs, claimId })
      if (batch.length === 0) break
      const results = await Promise.all(batch.map((m) => sendOne(m, claimId)))
      sent += results.filter(Boolean).length
      if (stopping) break
    }
    // Sent and dead mail is deleted by the retention job (src/retention-job.ts), in batches.
    return sent
  }

  function schedule(delay: number): void {
    if (!running) return
    clearTimeout(timer)
    timer = setTimeout(runPass, delay)
    timer.unref()
  }

  function runPass(): void {
    timer = undefined
    if (pass) {
      again = true
      return
    }
    pass = drainOnce()
      .catch((err: unknown) => {
        // A store outage: say so now and then, and keep polling.
        if (Date.now() - lastErrorLog > 30_000) {
          lastErrorLog = Date.now()
          logger.error({ reason: describe(err) }, 'mail: cannot read the outbox; retrying')
        }
      })
      .finally(() => {
        pass = undefined
        if (again) {
          again = false
          schedule(0)
        } else {
          schedule(pollIntervalMs)
        }
      })
  }

  return {
    start() {
      if (running) return
      running = true
      stopping = false
      schedule(0)
    },
    kick() {
      if (!running) return
      if (pass) again = true
      else schedule(0)
    },
    drainOnce,
    async stop() {
      running = false
      stopping = true
      clearTimeout(timer)
      timer = undefined
      await pass
    },
  }
}

/** A short, secret-free reason: an SMTP reply or a socket error code, never the message itself. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 300)
  const e = err as Error & { code?: string; responseCode?: number; response?: string }
  const parts = [e.code, e.responseCode, e.response ?? e.message].filter((p) => p !== undefined && p !== '')
  return parts.join(' ').slice(0, 300)
}
