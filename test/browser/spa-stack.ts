import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { startSpaServer, type SpaServer } from '../../examples/spa/serve.ts'
import { createPasswordHasher } from '../../src/accounts/passwords.ts'
import { buildApp } from '../../src/app.ts'
import { systemClock, type Clock } from '../../src/clock.ts'
import { loadConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { createOutboxDrainer, type OutboxDrainer } from '../../src/mail/outbox-drainer.ts'
import { loadMailTemplates } from '../../src/mail/templates.ts'
import { createSmtpTransport, type MailTransport } from '../../src/mail/transport.ts'
import { createSqliteStore } from '../../src/store/sqlite.ts'
import type { AuditEvent, Store } from '../../src/store/store.ts'
import { inMemoryKeyRing } from '../helpers/keys.ts'
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.ts'

export interface SpaStack {
  app: FastifyInstance
  store: Store
  spaUrl: string
  apiUrl: string
  /** Every request Latchkey answered, in order. */
  /** Every request answered: the problem `code` of a refusal too. */
  seen: Array<{ method: string; path: string; status: number; code: string | null }>
  /** The most POST /auth/refresh requests that were ever in Latchkey at once. */
  maxRefreshesInFlight(): number
  audit(type: AuditEvent['type']): Promise<AuditEvent[]>
  /** The in-process SMTP server Latchkey's outbox sends to, when started with `mail`. */
  smtp: TestSmtpServer | undefined
  close(): Promise<void>
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/**
 * Latchkey listening on http://localhost:<api> and the example SPA on http://localhost:<spa>, in
 * this process, on the real clock. With `mail`, the outbox drains over SMTP to an smtp-server here
 * and mailed links point at the SPA (MAIL_LINK_BASE_URL).
 */
export async function startSpaStack(options: { env?: Record<string, string>; mail?: boolean; clock?: Clock } = {}): Promise<SpaStack> {
  const apiPort = await freePort()
  const apiUrl = `http://localhost:${apiPort}`
  const spa: SpaServer = await startSpaServer({ apiUrl })
  const spaUrl = `http://localhost:${spa.port}`
  const smtp = options.mail ? await startSmtpServer() : undefined

  const config = loadConfig({ CORS_ORIGINS: spaUrl, PUBLIC_URL: apiUrl, MAIL_LINK_BASE_URL: spaUrl, LOG_LEVEL: 'silent', ...options.env })
  const store = createSqliteStore({ path: ':memory:' })
  const mailer = { drainer: undefined as OutboxDrainer | undefined, kick: () => mailer.drainer?.kick() }
  const app = await buildApp({
    config,
    store,
    keys: await inMemoryKeyRing(),
    clock: options.clock ?? systemClock,
    logger: createLogger('silent'),
    passwords: createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, queueLimit: 1000 }),
    mailer,
  })
  const seen: SpaStack['seen'] = []
  let inFlight = 0
  let maxInFlight = 0
  const isRefresh = (r: { method: string; url: string }) => r.method === 'POST' && r.url.startsWith('/auth/refresh')
  app.addHook('onRequest', async (request) => {
    if (isRefresh(request)) maxInFlight = Math.max(maxInFlight, ++inFlight)
  })
  app.addHook('onResponse', async (request, reply) => {
    if (isRefresh(request)) inFlight--
    seen.push({ method: request.method, path: request.url.split('?')[0] ?? '', status: reply.statusCode, code: reply.problemCode })
  })
  await app.listen({ host: '127.0.0.1', port: apiPort })

  let transport: MailTransport | undefined
  if (smtp) {
    transport = createSmtpTransport({ smtpUrl: smtp.url, mailDir: '/nonexistent', from: config.mail.from, messageIdDomain: 'localhost', logger: app.log, timeoutMs: 2000 })
    mailer.drainer = createOutboxDrainer({
      store,
      transport,
      templates: loadMailTemplates(),
      clock: systemClock,
      logger: app.log,
      pollIntervalMs: 50,
      leaseMs: 10_000,
      baseBackoffMs: 100,
      maxBackoffMs: 400,
    })
    mailer.drainer.start()
  }

  return {
    app,
    store,
    spaUrl,
    apiUrl,
    seen,
    smtp,
    maxRefreshesInFlight: () => maxInFlight,
    audit: (type) => store.listAudit({ type, limit: 1000 }),
    async close() {
      await mailer.drainer?.stop()
      transport?.close()
      await app.close()
      await store.close()
      await spa.close()
      await smtp?.close()
    },
  }
}
