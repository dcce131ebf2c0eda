import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import { createOutboxDrainer } from '../../src/mail/outbox-drainer.ts'
import { loadMailTemplates } from '../../src/mail/templates.ts'
import { createSmtpTransport } from '../../src/mail/transport.ts'
import { purgeOnce } from '../../src/retention-job.ts'
import type { NewOutboxMessage } from '../../src/store/outbox.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { Store } from '../../src/store/store.ts'
import { freshPostgresStore } from '../helpers/pg-schema.ts'
import { startSmtpServer } from '../helpers/smtp.ts'

const databaseUrl = process.env.TEST_DATABASE_URL
const T0 = 1_800_000_000_000
const HOUR = 3_600_000
const DAY = 24 * HOUR

const adapters: Array<{ name: string; open(): Promise<{ store: Store; dispose(): Promise<void> }> }> = [
  {
    name: 'SQLite',
    async open() {
      const store = createSqliteStore({ path: ':memory:' })
      return { store, dispose: () => store.close() }
    },
  },
  ...(databaseUrl ? [{ name: 'PostgreSQL', open: () => freshPostgresStore(databaseUrl) }] : []),
]
if (!databaseUrl) console.warn('outbox pruning on PostgreSQL SKIPPED: TEST_DATABASE_URL is not set')

describe.each(adapters)('the retention job prunes the outbox and the link tokens ($name)', ({ open }) => {
  it('deletes mail sent or expired over a week ago, and link tokens expired over a week ago; keeps the rest', async () => {
    const { store, dispose } = await open()
    const smtp = await startSmtpServer()
    const logger = createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() }))
    const transport = createSmtpTransport({ smtpUrl: smtp.url, mailDir: '', from: 'x@localhost', messageIdDomain: 'localhost', logger, timeoutMs: 5000 })
    let now = T0
    const drainer = createOutboxDrainer({
      store, transport, templates: loadMailTemplates(), clock: { now: () => now }, logger,
      leaseMs: 30_000,
    })
    const purge = () => purgeOnce({ store, clock: { now: () => now }, policy: { sessionRetentionDays: 30, batchSize: 1000 } })
    const message = (over: Partial<NewOutboxMessage>): NewOutboxMessage => ({
      id: randomUUID(), template: 'password_changed', recipient: `${randomUUID()}@example.com`, data: { email: 'a@example.com' }, createdAt: now, expiresAt: now + DAY, ...over,
    })
    try {
      const user = await store.createUser({ id: randomUUID(), email: `${randomUUID()}@example.com`, passwordHash: 'x', scope: 'user', createdAt: T0 })
      const oldToken = { hash: randomUUID(), purpose: 'reset_password' as const, userId: user!.id, email: user!.email, createdAt: T0, expiresAt: T0 + HOUR }
      // Sent on day 0; left unsent until it expired on day 1 (the SMTP server refused it).
      const sentEarly = message({})
      await store.outbox.enqueue([sentEarly])
      expect(await drainer.drainOnce()).toBe(1)
      await store.oneTimeTokens.issue({ token: oldToken, messages: [] })
      await smtp.stop()
      const neverSent = message({ expiresAt: T0 + DAY })
      await store.outbox.enqueue([neverSent])
      const failing = createOutboxDrainer({ store, transport, templates: loadMailTemplates(), clock: { now: () => now }, logger, leaseMs: 1, maxAttempts: 1 })
      await failing.drainOnce()
      expect((await store.outbox.list({ now, limit: 10, status: 'failed' })).map((m) => m.id)).toEqual([neverSent.id])
      await smtp.start()

      // Day 6: nothing is old enough yet. A message sent now stays for the next week.
      now = T0 + 6 * DAY
      const sentLater = message({})
      await store.outbox.enqueue([sentLater])
      expect(await drainer.drainOnce()).toBe(1)
      expect((await purge()).counts).toMatchObject({ outbox_messages: 0, one_time_tokens: 0 })
      expect((await store.outbox.list({ now, limit: 10 })).map((m) => m.id).sort()).toEqual([sentEarly.id, neverSent.id, sentLater.id].sort())

      // Day 8: a week past the first send, the expiry of the unsent one and of the token: pruned.
      now = T0 + 8 * DAY + 2 * HOUR
      expect((await purge()).counts).toMatchObject({ outbox_messages: 2, one_time_tokens: 1 })
      expect((await store.outbox.list({ now, limit: 10 })).map((m) => m.id)).toEqual([sentLater.id])
      expect((await store.oneTimeTokens.consume({ hash: oldToken.hash, purposes: ['reset_password'], now, newPasswordHash: 'y' })).outcome).toBe('unknown')

    } finally {
      await drainer.stop()
      transport.close()
      await smtp.close()
      await dispose()
    }
  })
})
