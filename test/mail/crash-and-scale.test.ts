import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.ts'
import { createLogger } from '../../src/logger.ts'
import { createMetrics } from '../../src/metrics.ts'
import { createOutboxDrainer } from '../../src/mail/outbox-drainer.ts'
import { loadMailTemplates } from '../../src/mail/templates.ts'
import { createSmtpTransport } from '../../src/mail/transport.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { postJson, startServer } from '../helpers/server-process.ts'
import { startSmtpServer } from '../helpers/smtp.ts'

const PASSWORD = 'correct horse battery staple'
const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('a Latchkey process killed with SIGKILL while a message is in flight', () => {
  it('sends it after the restart, and the SMTP server accepts it exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-crash-mail-'))
    dirs.push(dir)
    const smtp = await startSmtpServer()
    const env = {
      KEYS_DIR: join(dir, 'keys'),
      DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
      RATE_LIMIT_ENABLED: 'false',
      SMTP_URL: smtp.url,
      // The claim lease of the mail in flight is 3 × 1 s + 2 s: the restarted process may send it 5 s later.
      MAIL_SEND_TIMEOUT: '1',
    }
    try {
      smtp.hold = true
      const first = await startServer(env)
      const email = `crash-${randomUUID()}@example.com`
      const reg = await postJson(`${first.url}/auth/register`, { email, password: PASSWORD })
      expect(reg?.status).toBe(201)
      // Committed (the 201 came after the commit) and handed to SMTP, but never acknowledged: kill now.
      await smtp.waitForHeld(1)
      first.child.kill('SIGKILL')
      expect((await first.exited).signal).toBe('SIGKILL')
      expect(smtp.received).toEqual([])

      smtp.hold = false
      const second = await startServer(env)
      try {
        const [mail] = await smtp.waitFor((m) => m.to === email, { timeoutMs: 20_000 })
        expect(mail!.subject).toMatch(/confirm your email/i)
        // The link works against the restarted process.
        const verified = await postJson(`${second.url}/auth/email/verify`, { token: mail!.token })
        expect(verified?.status).toBe(200)
        // Exactly once: give a duplicate every chance (two more poll intervals), then count.
        await new Promise((r) => setTimeout(r, 2500))
        expect(smtp.received.filter((m) => m.to === email)).toHaveLength(1)
        expect(second.output()).not.toContain(mail!.token!)
      } finally {
        second.child.kill('SIGTERM')
        await second.exited
      }
    } finally {
      await smtp.close()
    }
  }, 60_000)
})

const databaseUrl = process.env.TEST_DATABASE_URL
const MESSAGES = 600

describe.skipIf(!databaseUrl)('two instances draining one PostgreSQL outbox', () => {
  it(`deliver each of ${MESSAGES} messages exactly once (counted at the SMTP server)`, async () => {
    const smtp = await startSmtpServer()
    const a = await freshPostgresStore(databaseUrl!)
    const b = await freshPostgresStore(databaseUrl!, a.schema)
    const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }))
    const now = Date.now()
    await a.store.outbox.enqueue(Array.from({ length: MESSAGES }, (_, i) => ({
      id: randomUUID(), template: 'password_changed', recipient: `user${i}@example.com`, data: { email: `user${i}@example.com` }, createdAt: now, expiresAt: now + 3_600_000,
    })))
    const instances = [a, b].map(({ store }) => {
      const metrics = createMetrics()
      const transport = createSmtpTransport({ smtpUrl: smtp.url, mailDir: '', from: 'x@localhost', messageIdDomain: 'localhost', logger, timeoutMs: 5000 })
      const drainer = createOutboxDrainer({ store, transport, templates: loadMailTemplates(), clock: systemClock, logger, metrics, leaseMs: 30_000, batchSize: 16, pollIntervalMs: 20 })
      return { metrics, transport, drainer }
    })
    try {
      const started = performance.now()
      for (const i of instances) i.drainer.start()
      const received = await smtp.waitFor(() => true, { count: MESSAGES, timeoutMs: 60_000 })
      const seconds = (performance.now() - started) / 1000
      console.info(`two drainers sent ${MESSAGES} messages in ${seconds.toFixed(2)} s (${(MESSAGES / seconds).toFixed(0)} messages/s)`)
      await new Promise((r) => setTimeout(r, 300))
      expect(smtp.received).toHaveLength(MESSAGES)
      expect(new Set(smtp.received.map((m) => m.messageId)).size).toBe(MESSAGES)
      expect(new Set(received.map((m) => m.to)).size).toBe(MESSAGES)
      const sentBy = await Promise.all(instances.map(async (i) => (await i.metrics.registry.getSingleMetric('latchkey_mail_sent_total')!.get()).values.reduce((n, v) => n + v.value, 0)))
      expect(sentBy[0]! + sentBy[1]!).toBe(MESSAGES)
      // Both really drained: neither was idle while the other did everything.
      expect(Math.min(...sentBy)).toBeGreaterThan(MESSAGES / 10)
      expect(await a.store.outbox.stats(Date.now())).toEqual({ pending: 0, oldestPendingAt: null })
    } finally {
      for (const i of instances) {
        await i.drainer.stop()
        i.transport.close()
      }
      await b.store.close()
      await a.dispose()
      await smtp.close()
    }
  }, 90_000)
})

describe('one SQLite process drains its outbox', () => {
  it('sends a backlog once, in order of arrival', async () => {
    const smtp = await startSmtpServer()
    const store = createSqliteStore({ path: ':memory:' })
    const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }))
    const transport = createSmtpTransport({ smtpUrl: smtp.url, mailDir: '', from: 'x@localhost', messageIdDomain: 'localhost', logger, timeoutMs: 5000 })
    const drainer = createOutboxDrainer({ store, transport, templates: loadMailTemplates(), clock: systemClock, logger, leaseMs: 30_000, batchSize: 1 })
    try {
      const now = Date.now()
      await store.outbox.enqueue(Array.from({ length: 20 }, (_, i) => ({
        id: randomUUID(), template: 'password_changed', recipient: `u${i}@example.com`, data: { email: `u${i}@example.com` }, createdAt: now + i, expiresAt: now + 3_600_000,
      })))
      expect(await drainer.drainOnce()).toBe(20)
      expect(smtp.received.map((m) => m.to)).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}@example.com`))
      expect(await drainer.drainOnce()).toBe(0)
    } finally {
      transport.close()
      await store.close()
      await smtp.close()
    }
  })
})
